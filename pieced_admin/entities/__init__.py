"""Billing entities: the legal sellers that issue invoices under their own prefix."""
