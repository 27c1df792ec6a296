"""The Billing runs page: recent runs, starting one from the browser, and its live progress."""
