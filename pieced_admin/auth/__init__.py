"""Login through OIDC, sessions, and who may do what."""
