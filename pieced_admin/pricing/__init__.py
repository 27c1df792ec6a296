"""Platform pricing and per-skill prices."""
