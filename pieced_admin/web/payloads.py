"""Limits on JSON bodies from machines, checked before parsing (Python's parser recurses, and fails
with RecursionError — a 500 — on deep nesting)."""

from __future__ import annotations


def json_too_deep(raw: bytes, limit: int) -> bool:
    """Whether JSON text nests arrays/objects deeper than `limit` (checked before parsing, which recurses)."""
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False
