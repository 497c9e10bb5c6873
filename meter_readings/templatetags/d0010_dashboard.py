"""``{% dashboard_summary as dashboard %}`` for the admin index."""

from django import template

from meter_readings import selectors

register = template.Library()


@register.simple_tag
def dashboard_summary() -> dict:
    return selectors.dashboard_summary()


@register.simple_tag
def dashboard_reports() -> dict:
    """The open exceptions by rule and age, and the stale-read buckets."""
    from django.conf import settings
    from django.utils import timezone

    now = timezone.now()
    return {
        "bands": [label for _, label, _, _ in selectors.AGE_BANDS],
        "band_keys": [key for key, _, _, _ in selectors.AGE_BANDS],
        "open_exceptions": selectors.open_exceptions_by_rule_and_age(now=now),
        "stale": selectors.stale_read_summary(now=now),
        "stale_months": settings.D0010_STALE_READ_MONTHS,
    }
