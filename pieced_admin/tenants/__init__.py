"""Tenants: the event log mirrored from the PiecedTenant CRs (backfill, watch) and the tenant pages and actions."""
