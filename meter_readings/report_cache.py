"""The reports' counts, kept a few minutes in Django's cache and dropped when they change.

The stale-read buckets and the open exceptions by rule and age are counted over every
meter point and every unresolved exception: on a national book that costs what a page
should take in all, and the counts move by the month. An import that stores readings and
a change to an exception drop them once their transaction commits.
"""

from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import transaction

REPORT_CACHE_SECONDS = 300
_KEYS = ("d0010:open-exceptions-by-rule-and-age", "d0010:stale-read-summary")
OPEN_EXCEPTIONS_KEY, STALE_READS_KEY = _KEYS


def cached(key: str, compute: Callable[[], Any]) -> Any:
    """The value kept under ``key``, computed and kept if there is none."""
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, REPORT_CACHE_SECONDS)
    return value


def drop_reports_on_commit() -> None:
    """Forget the reports' counts when the current transaction commits."""
    transaction.on_commit(lambda: cache.delete_many(list(_KEYS)))
