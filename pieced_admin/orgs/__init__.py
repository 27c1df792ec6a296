"""Organisations: their billing configuration."""
