"""``/health/``: is this instance able to serve? For load balancers and monitoring."""

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from config.celery import app as celery_app

logger = logging.getLogger(__name__)
BROKER_TIMEOUT_SECONDS = 2


def health(request: HttpRequest) -> JsonResponse:
    """200 when the database (and the broker, if one is configured) answer; else 503."""
    checks = {"database": _database(), "broker": _broker()}
    healthy = all(state in ("ok", "not configured") for state in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
    )


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except Exception:
        logger.exception("Health check: the database does not answer")
        return "unavailable"


def _broker() -> str:
    if not settings.CELERY_BROKER_URL:
        return "not configured"
    try:
        with celery_app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
        return "ok"
    except Exception:
        logger.exception("Health check: the broker does not answer")
        return "unavailable"
