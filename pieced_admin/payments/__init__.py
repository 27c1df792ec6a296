"""Card payments through Stripe (SPEC §6): customers, mirrored cards, charges at most once, webhooks.

Stripe ids are stored the moment they exist and every later call goes by id;
metadata search serves only once, to adopt a customer created before ids were
stored. The Stripe calls themselves live in `integrations/stripe_pay.py`.
"""
