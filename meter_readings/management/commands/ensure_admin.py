"""``manage.py ensure_admin``: make sure a local admin account exists (for make demo)."""

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Create the superuser USERNAME if it does not exist, with the password in "
        "DJANGO_SUPERUSER_PASSWORD or a random one that is printed once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        users = get_user_model().objects
        if users.filter(username=username).exists():
            self.stdout.write(f"Admin account {username!r} already exists; password unchanged.")
            return
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or secrets.token_urlsafe(12)
        users.create_superuser(username=username, email="", password=password)
        if os.environ.get("DJANGO_SUPERUSER_PASSWORD"):
            self.stdout.write(
                f"Created admin account {username!r} (password from the environment)."
            )
        else:
            self.stdout.write(f"Created admin account {username!r} with password: {password}")
