"""JSON for other systems' APIs and files that take amounts as numbers (bexio), not as the strings
of our own JSON (SPEC §5)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def json_dumps(value: Any, *, pretty: bool = False, _depth: int = 0) -> str:
    """JSON with Decimals written as numbers of their own places (900.00, never a float or a string):
    compact for bexio's API, indented by two spaces (`pretty`) for a file a person opens."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not an amount")
        return format(value, "f")
    pad, inner = ("\n" + "  " * _depth, "\n" + "  " * (_depth + 1)) if pretty else ("", "")
    if isinstance(value, Mapping) and value:
        items = [f"{inner}{json.dumps(str(k), ensure_ascii=False)}:{' ' if pretty else ''}"
                 f"{json_dumps(v, pretty=pretty, _depth=_depth + 1)}" for k, v in value.items()]
        return "{" + ",".join(items) + pad + "}"
    if isinstance(value, (list, tuple)) and value:
        return "[" + ",".join(f"{inner}{json_dumps(v, pretty=pretty, _depth=_depth + 1)}" for v in value) + pad + "]"
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    return json.dumps(value, ensure_ascii=False)
