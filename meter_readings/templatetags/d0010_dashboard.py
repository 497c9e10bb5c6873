"""``{% dashboard_summary as dashboard %}`` for the admin index."""

from django import template

from meter_readings import selectors

register = template.Library()


@register.simple_tag
def dashboard_summary() -> dict:
    return selectors.dashboard_summary()
