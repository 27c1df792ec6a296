"""The dashboard: receivables, revenue, and what needs attention."""
