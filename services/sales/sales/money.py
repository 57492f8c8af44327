"""Money without floats: decimal strings in, exact sums, conversion into the report currency; the
one amount rule of deals and orders (line items and a given amount, rounded to cents, bounded)."""

from decimal import ROUND_HALF_EVEN, Context, Decimal

from crm_common.errors import ValidationFailed

CURRENCIES = ("CNY", "USD", "EUR", "GBP", "JPY", "HKD", "SGD")
CENT = Decimal("0.01")
RATIO = Decimal("0.0001")
ZERO = Decimal(0)
# Amounts (a deal's, an order's, a line item's quantity x unit price) stay below 10^15, and exchange
# rates at most MAX_RATE: every conversion and sum the reports make then fits the wide context below.
MAX_AMOUNT = Decimal(10) ** 15
MAX_RATE = Decimal(10000)
# Quantizing needs room for every digit: the default context (28) is too narrow for big sums.
WIDE = Context(prec=60)


def amount(text: str | None) -> Decimal:
    """A stored decimal string (already validated at the edge) as a Decimal; None is zero."""
    return Decimal(text) if text else ZERO


def text(value: Decimal) -> str:
    """A Decimal as the API's money string, rounded to cents: `"1234.50"`."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_EVEN, context=WIDE))


def ratio(value: Decimal) -> str:
    """A share or rate as a decimal string with four places (`"0.7500"`)."""
    return str(value.quantize(RATIO, rounding=ROUND_HALF_EVEN, context=WIDE))


def converted(value: Decimal, currency: str, settings: dict) -> Decimal:
    """`value` in `currency` expressed in the settings' report currency at its fixed rate
    (`exchange_rates[currency]`: one unit of `currency` in report-currency units)."""
    if currency == settings["report_currency"]:
        return value
    return WIDE.multiply(value, Decimal(settings["exchange_rates"][currency]))


def minor_units(value: Decimal) -> int:
    """Cents as an integer: a sortable, indexable figure for stores that cannot sort decimals."""
    return int(WIDE.multiply(value, Decimal(100)).to_integral_value(rounding=ROUND_HALF_EVEN, context=WIDE))


# line items and the amount they make (deals and orders alike)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field} {message}", [{"field": field, "message": message}])


def line_items(items: list[dict] | None) -> list[dict]:
    """Line items as stored: product, sku, quantity, unit_price (validated by schemas.LINE_ITEM_FIELDS)."""
    return [
        {"product": i["product"], "sku": i.get("sku"), "quantity": i["quantity"], "unit_price": i["unit_price"]}
        for i in items or []
    ]


def line_items_total(items: list[dict]) -> Decimal:
    """The exact sum of quantity x unit_price; a line or a sum of 10^15 or more is a 422."""
    total = ZERO
    for index, item in enumerate(items):
        line = WIDE.multiply(Decimal(item["quantity"]), Decimal(item["unit_price"]))
        if line >= MAX_AMOUNT:
            raise _invalid(f"line_items[{index}]", "quantity x unit_price must stay below 10^15")
        total = WIDE.add(total, line)
    if total >= MAX_AMOUNT:
        raise _invalid("line_items", "must sum to less than 10^15")
    return total


def settled_amount(items: list[dict] | None, given: str | None, kept: str | None = None) -> str:
    """The amount of a deal or an order, as the API's money string (rounded to cents): the rounded
    sum of its line items when it has some (an amount given too must round to the same cents),
    otherwise the amount given (or kept), which is then required."""
    if items:
        total = text(line_items_total(items))
        if given is not None and text(Decimal(given)) != total:
            raise _invalid("amount", f"must equal the sum of the line items ({total}) or be left out")
        return total
    value = given if given is not None else kept
    if value is None:
        raise _invalid("amount", "is required without line items")
    return text(Decimal(value))
