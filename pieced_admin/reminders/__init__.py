"""Payment reminders: the daily job, the invoice page's panel, and sending one by hand."""
