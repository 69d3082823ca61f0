from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def points(value) -> str:
    """A points amount with thousands separators and without trailing zeros: 12500.500 → 12,500.5."""
    if value is None or value == "":
        return "0"
    return format(Decimal(value).normalize(), ",f")
