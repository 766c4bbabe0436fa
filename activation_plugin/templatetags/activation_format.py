"""Formatting of figures in templates."""
from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def percent(value, digits=1):
    """0.2345 -> '23.5 %'; None (nothing to report yet) -> an em dash."""
    if value is None:
        return "—"
    return f"{number_format(value * 100, int(digits))} %"
