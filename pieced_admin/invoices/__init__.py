"""Invoices: the list with filters, totals and CSV export; the detail page with PDF, timeline and actions."""
