"""Fixtures of the orgs page tests."""

from .support import post  # noqa: F401  (fixture)
