"""Fixtures of the entities page tests."""

from ..orgs.support import post  # noqa: F401  (fixture)
