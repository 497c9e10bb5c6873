"""Unexpected failures answered without internals: a reference the log also carries.

The client learns that something failed and what to quote to an administrator, never an
exception's type or text (which may name tables, paths or data); the log keeps the
traceback under the same reference.
"""

import logging
import uuid
from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)


def new_reference() -> str:
    """A short, unique reference for one failure."""
    return uuid.uuid4().hex[:12]


def failure_response(*, reference: str, detail: str, **extra: Any) -> Response:
    """The 500 body: what failed, in words, and the reference to quote."""
    return Response(
        {
            "detail": f"{detail} Quote reference {reference} to an administrator.",
            "reference": reference,
            **extra,
        },
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus a JSON 500 with a reference for anything it does not handle."""
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    reference = new_reference()
    view = context.get("view")
    logger.error(
        "Unexpected failure in %s (reference %s)",
        type(view).__name__ if view is not None else "the API",
        reference,
        exc_info=exc,
        extra={"reference": reference},
    )
    set_rollback()
    return failure_response(reference=reference, detail="The request failed unexpectedly.")
