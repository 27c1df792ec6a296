"""Fixtures of the pricing page tests."""

from ..orgs.support import post  # noqa: F401  (fixture)
