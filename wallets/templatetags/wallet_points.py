from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def points(value) -> str:
    """A points amount without trailing zeros: 12.500 → 12.5, 12.000 → 12."""
    if value is None or value == "":
        return "0"
    text = format(Decimal(value).normalize(), "f")
    return text
