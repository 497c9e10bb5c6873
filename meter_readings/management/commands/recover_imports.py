"""``manage.py recover_imports``: end or re-run imports a dead process left unfinished."""

from typing import Any

from django.core.management.base import BaseCommand

from meter_readings.services.recovery import recover_abandoned_imports


class Command(BaseCommand):
    help = (
        "One recovery pass: imports whose process died (killed, crashed) are queued again "
        "once if their file is stored (background imports), else ended as interrupted; "
        "queued files a worker has not picked up for 5 minutes are sent again. Run it "
        "every minute (the deployment's d0010-recover.timer does)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = recover_abandoned_imports()
        self.stdout.write(str(report))
