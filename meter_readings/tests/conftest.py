"""Test-wide settings.

Hypothesis: no per-example deadline (a deadline is a timing assertion, and coverage or a
busy CI machine slows examples down); in CI, derandomised so a run can be reproduced
exactly, while local runs keep exploring new examples.
"""

import os

from hypothesis import settings

settings.register_profile("local", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "local")


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests create many users: hash their passwords cheaply (never outside tests)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache():
    """The reports keep their counts in the cache: each test starts without them."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
