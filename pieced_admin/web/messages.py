"""Our error messages are written as clauses ("no billing entity with code 'x'"), for one-line CLI
errors; a page shows them as sentences."""

from __future__ import annotations

# Names that keep their own lower case at the start of a sentence.
LOWER_CASE_NAMES = ("bexio",)


def as_sentence(message: object) -> str:
    """The message with a capital first letter and one full stop at the end."""
    text = str(message).strip()
    if not text.startswith(LOWER_CASE_NAMES):
        text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."
