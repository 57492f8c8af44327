"""Money without floats: decimal strings in, exact sums, conversion into the report currency."""

from decimal import ROUND_HALF_EVEN, Decimal

CURRENCIES = ("CNY", "USD", "EUR", "GBP", "JPY", "HKD", "SGD")
CENT = Decimal("0.01")
ZERO = Decimal(0)


def amount(text: str | None) -> Decimal:
    """A stored decimal string (already validated at the edge) as a Decimal; None is zero."""
    return Decimal(text) if text else ZERO


def text(value: Decimal) -> str:
    """A Decimal as the API's money string, rounded to cents: `"1234.50"`."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_EVEN))


def total(values) -> Decimal:
    return sum((amount(v) if isinstance(v, str) else v for v in values), ZERO)


def converted(value: Decimal, currency: str, settings: dict) -> Decimal:
    """`value` in `currency` expressed in the settings' report currency at its fixed rate
    (`exchange_rates[currency]`: one unit of `currency` in report-currency units)."""
    if currency == settings["report_currency"]:
        return value
    return value * Decimal(settings["exchange_rates"][currency])


def minor_units(value: Decimal) -> int:
    """Cents as an integer: a sortable, indexable figure for stores that cannot sort decimals."""
    return int((value * 100).to_integral_value(rounding=ROUND_HALF_EVEN))
