import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def run(**options) -> str:
    out = io.StringIO()
    call_command("ensure_admin", stdout=out, **options)
    return out.getvalue()


class TestEnsureAdmin:
    def test_it_creates_an_admin_with_a_printed_random_password(self, monkeypatch):
        monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)

        output = run()

        password = output.rsplit(": ", 1)[1].strip()
        admin = User.objects.get(username="admin")
        assert admin.is_superuser and admin.check_password(password)

    def test_it_takes_the_password_from_the_environment_and_does_not_print_it(self, monkeypatch):
        monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "s3cret-from-env")

        output = run(username="ops")

        assert "s3cret-from-env" not in output
        assert User.objects.get(username="ops").check_password("s3cret-from-env")

    def test_it_leaves_an_existing_account_alone(self, monkeypatch):
        monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "first-password-1")
        run()
        monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "second-password-2")

        output = run()

        assert "already exists" in output
        assert User.objects.get(username="admin").check_password("first-password-1")
