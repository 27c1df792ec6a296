"""Decimal money helpers: half-up rounding to the cent and formatting.

Money is ``Decimal`` end to end; binary floating point is refused outright.
Amounts are kept exact and rounded once, at the end of each invoice line.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, Inexact

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# Products of prices, quantities and rates stay far below 80 digits; should one
# not, the Inexact trap raises instead of rounding silently.
_EXACT = Context(prec=80, traps=[Inexact])

Number = Decimal | int | str

# The Swiss group separator as our invoices print it: U+2019 RIGHT SINGLE
# QUOTATION MARK, in English and German alike. It is our own rule, not the
# installed CLDR's: Babel 2.19's de_CH/en_CH data dropped grouping of millions
# and switched to U+0027, which would change what a fresh install prints.
GROUP_SEPARATOR = "\u2019"


def to_decimal(value: Number) -> Decimal:
    """Coerce an int, str or Decimal to Decimal; floats are refused (they are not exact)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return Decimal(value)
    raise TypeError(f"Money must be Decimal, int or str, not {type(value).__name__}.")


def _no_negative_zero(value: Decimal) -> Decimal:
    return value.copy_abs() if value.is_zero() else value


def q2(value: Number) -> Decimal:
    """Round half-up (away from zero) to 0.01."""
    return _no_negative_zero(to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP))


def q2_ratio(numerator: Number, denominator: int) -> Decimal:
    """Round ``numerator / denominator`` half-up to 0.01, exactly (no intermediate rounding)."""
    if not isinstance(denominator, int) or isinstance(denominator, bool) or denominator == 0:
        raise ValueError("The denominator must be a non-zero integer.")
    # numerator / denominator in cents = top / bottom, as exact integers.
    n, d = to_decimal(numerator).as_integer_ratio()
    top, bottom = n * 100, d * denominator
    if bottom < 0:
        top, bottom = -top, -bottom
    cents = (2 * abs(top) + bottom) // (2 * bottom)  # half-up on the magnitude
    return _no_negative_zero(Decimal(-cents if top < 0 else cents).scaleb(-2))


def exact_product(*factors: Number) -> Decimal:
    """Multiply without rounding (enough precision for any realistic amount)."""
    result = Decimal(1)
    for factor in factors:
        result = _EXACT.multiply(result, to_decimal(factor))
    return result


def _plain(value: Decimal) -> str:
    return format(_no_negative_zero(value), "f")


def fmt_amount(value: Number) -> str:
    """An amount for JSON: rounded to the cent, always two decimals, e.g. ``28.45``."""
    return _plain(q2(value))


def fmt_price(value: Number) -> str:
    """A unit price: at least two decimals, more only when significant (``49.00``, ``0.005``)."""
    normal = to_decimal(value).normalize()
    exponent = normal.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        normal = normal.quantize(CENT)
    return _plain(normal)


def fmt_quantity(value: Number) -> str:
    """A quantity without trailing zeros: ``18``, ``12.3456``, ``1234``."""
    return _plain(to_decimal(value).normalize())


def format_grouped(value: Number, places: int = 2) -> str:
    """``value`` rounded half-up to ``places`` decimals, thousands grouped with ’: ``-1’234’567.89``."""
    exponent = Decimal(1).scaleb(-places)
    rounded = _no_negative_zero(to_decimal(value).quantize(exponent, rounding=ROUND_HALF_UP))
    sign = "-" if rounded < 0 else ""
    whole, _, fraction = format(rounded.copy_abs(), "f").partition(".")
    groups = []
    while len(whole) > 3:
        whole, tail = whole[:-3], whole[-3:]
        groups.insert(0, tail)
    grouped = GROUP_SEPARATOR.join([whole, *groups])
    return f"{sign}{grouped}.{fraction}" if places else f"{sign}{grouped}"


def format_chf(value: Number, locale: str = "en") -> str:
    """An amount for people, Swiss style: ``1’234.50``, the same in English and German."""
    del locale  # one Swiss rule for both invoice languages
    return format_grouped(value, 2)
