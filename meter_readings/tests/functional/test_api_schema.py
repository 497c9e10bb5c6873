"""Schema-driven: schemathesis generates requests from our OpenAPI schema and checks
that no response is a 500 or contradicts the schema (status, content type, body)."""

import pytest
import schemathesis
from django.contrib.auth.models import Permission, User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.throttling import SimpleRateThrottle
from schemathesis.specs.openapi.checks import positive_data_acceptance

from config.wsgi import application

pytestmark = pytest.mark.django_db


# Loaded at collection: the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def connections_kept_open():
    # As Django's test client does: the WSGI app must not close the connection that
    # holds the test's transaction at the end of each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db, monkeypatch, connections_kept_open) -> str:
    # Throttling has its own test; generated traffic must not trip it.
    monkeypatch.setattr(SimpleRateThrottle, "allow_request", lambda self, request, view: True)
    user = User.objects.create_user("schemathesis", password="not-used-0")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="meter_readings"))
    return Token.objects.create(user=user).key


@schema.parametrize()
@settings(
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_the_api_honours_its_schema(case, token):
    # Every check but "a schema-valid request was accepted": wrong credentials and
    # values that only the validators refuse (a 12-digit MPAN) are schema-valid but
    # rightly answered with a documented 400.
    case.call_and_validate(
        headers={"Authorization": f"Token {token}"},
        excluded_checks=[positive_data_acceptance],
    )
