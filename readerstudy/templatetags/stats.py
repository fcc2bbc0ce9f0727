"""Formatting of statistics in templates."""

import math

from django import template

register = template.Library()


@register.filter
def pvalue(value) -> str:
    """'< 0.001' for small p-values, else three decimals; '–' when missing."""
    try:
        p = float(value)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
