"""Shared web helpers: htmx page-or-partial rendering, Jinja filters, error pages."""
