"""Amounts as JSON numbers of their own places, for bexio's API (compact) and the bexio file (indented)."""

from decimal import Decimal

import pytest

from pieced_admin.json_amounts import json_dumps


def test_amounts_keep_their_places_compact_and_indented():
    value = {"amount": Decimal("900.00"), "entries": [{"n": 1, "text": "Städtle"}], "none": None, "empty": []}
    assert json_dumps(value) == '{"amount":900.00,"entries":[{"n":1,"text":"Städtle"}],"none":null,"empty":[]}'
    assert json_dumps(value, pretty=True) == (
        '{\n  "amount": 900.00,\n  "entries": [\n    {\n      "n": 1,\n      "text": "Städtle"\n    }\n  ],\n'
        '  "none": null,\n  "empty": []\n}')


def test_an_amount_that_is_not_a_number_is_refused():
    with pytest.raises(ValueError, match="not an amount"):
        json_dumps({"amount": Decimal("NaN")})
