"""Formatting of figures in templates."""
from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def percent(value, digits=1):
    """
    0.2345 -> '23.5 %'; None (nothing to report yet) -> an em dash. Rounded here because Django's
    number_format cuts floats off (1/6 would read 16.6 %).
    """
    if value is None:
        return "—"
    return f"{number_format(round(value * 100, int(digits)), int(digits))} %"
