"""Rounding and formatting of money."""

from decimal import Decimal as D

import pytest

from pieced_admin.billing.money import (
    exact_product,
    fmt_amount,
    fmt_price,
    fmt_quantity,
    format_chf,
    q2,
    q2_ratio,
    to_decimal,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (D("0.125"), D("0.13")),  # half-up, where half-even would give 0.12
        (D("0.005"), D("0.01")),
        (D("2.675"), D("2.68")),  # a float 2.675 is 2.67499999… and would round down
        (D("0.135"), D("0.14")),
        (D("0.1249999"), D("0.12")),
        (D("28.451612903"), D("28.45")),
        (D("13.333248"), D("13.33")),
        (D("12.04875"), D("12.05")),
        (D("-0.125"), D("-0.13")),  # away from zero for negatives (credits)
        (D("-0.001"), D("0.00")),  # no negative zero
        (D("49"), D("49.00")),
        (7, D("7.00")),
        ("1.005", D("1.01")),
    ],
)
def test_q2_rounds_half_up(value, expected):
    result = q2(value)
    assert result == expected
    assert str(result) == str(expected)


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (D("882"), 31, D("28.45")),  # 49 × 18 / 31 = 28.4516…
        (D("3.75"), 30, D("0.13")),  # 0.25 × 15 / 30 = 0.125 exactly → half-up
        (D("49"), 31 * 1, D("1.58")),  # 1.580645…
        (D("1519"), 31, D("49.00")),  # 49 × 31 / 31: a full month is exactly the fee
        (D("0.0000001"), 3, D("0.00")),
        (D("-3.75"), 30, D("-0.13")),
        (D("10"), 3, D("3.33")),
        (D("20"), 3, D("6.67")),
        (D("1E+3"), 8, D("125.00")),
    ],
)
def test_q2_ratio_is_exact(numerator, denominator, expected):
    assert q2_ratio(numerator, denominator) == expected


def test_q2_ratio_refuses_zero_denominator():
    with pytest.raises(ValueError):
        q2_ratio(D("1"), 0)


def test_floats_are_refused():
    with pytest.raises(TypeError):
        to_decimal(0.1)
    with pytest.raises(TypeError):
        q2(2.675)


def test_exact_product_does_not_round():
    # 12.3456 × 0.9 × 1.2 = 13.333248
    assert exact_product(D("12.3456"), D("0.9"), D("1.2")) == D("13.333248")
    # 30 significant digits survive (the default context keeps 28)
    big = D("123456789012345.123456789012345")
    assert exact_product(big, 1) == big


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (D("28.45"), "28.45"),
        (D("49"), "49.00"),
        (D("0"), "0.00"),
        (D("-0.00"), "0.00"),
        (D("0.125"), "0.13"),
        (D("1234567.891"), "1234567.89"),
        (D("-5.5"), "-5.50"),
        (D("1E+2"), "100.00"),
    ],
)
def test_fmt_amount(value, expected):
    assert fmt_amount(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (D("49"), "49.00"),
        (D("49.00000"), "49.00"),
        (D("0.005"), "0.005"),
        (D("0.00500"), "0.005"),
        (D("0.1"), "0.10"),
        (D("0.10"), "0.10"),
        (D("1.08"), "1.08"),
        (D("1.08000"), "1.08"),
        (D("1.23456"), "1.23456"),
        (D("1E+2"), "100.00"),
        (D("0"), "0.00"),
    ],
)
def test_fmt_price(value, expected):
    assert fmt_price(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (D("18"), "18"),
        (D("18.000"), "18"),
        (D("12.3456"), "12.3456"),
        (D("12.34560"), "12.3456"),
        (D("1234"), "1234"),
        (D("1.234E+3"), "1234"),
        (D("1E+3"), "1000"),
        (D("0"), "0"),
        (D("0.000"), "0"),
        (D("-0"), "0"),
        (1, "1"),
    ],
)
def test_fmt_quantity(value, expected):
    assert fmt_quantity(value) == expected


@pytest.mark.parametrize("locale", ["en", "de", "de_CH", "en_CH"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1234.5", "1’234.50"),
        (D("1234567.891"), "1’234’567.89"),
        (D("1234567.89"), "1’234’567.89"),  # millions grouped too (Babel 2.19's de_CH data would not)
        (D("0"), "0.00"),
        (D("0.05"), "0.05"),
        (D("999.99"), "999.99"),
        (D("1000"), "1’000.00"),
        (D("-0.05"), "-0.05"),
        (D("-1000000"), "-1’000’000.00"),
        (D("999.995"), "1’000.00"),
        (D("-1234.5"), "-1’234.50"),
        (D("-0.001"), "0.00"),
        (D("0.005"), "0.01"),  # our half-up rounding, not babel's half-even
    ],
)
def test_format_chf_swiss_style(value, expected, locale):
    assert format_chf(value, locale) == expected


def test_format_chf_defaults_to_english():
    assert format_chf(D("1234.5")) == "1’234.50"


def test_the_group_separator_is_the_typographic_apostrophe_whatever_babel_says():
    # U+2019, as the invoices have always printed it; not U+0027 nor a narrow space.
    assert format_chf(D("1234567.89"), "de") == "1\u2019234\u2019567.89" == format_chf(D("1234567.89"), "en")
