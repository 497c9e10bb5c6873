"""``manage.py check_readings``: run the reading checks over readings already held."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from meter_readings.services.reading_checks import check_held_readings


class Command(BaseCommand):
    help = (
        "Check every register of the meters held (or of --mpan's), from its first "
        "reading: raise the exceptions the rules find, auto-resolve those they no longer "
        "find, and recompute each meter point's last read. For readings imported before "
        "the checks existed, and after a change of D0010_VALIDATION thresholds. Runs in "
        "transactions of --meters meters at a time, so it can be stopped and run again."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--mpan", help="Only this MPAN core's meters.")
        parser.add_argument(
            "--meters", type=int, default=2000, help="Meters per transaction (default 2000)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["meters"] < 1:
            raise CommandError("--meters must be at least 1.")
        counts = check_held_readings(
            mpan_core=options["mpan"],
            meters_per_transaction=options["meters"],
            on_progress=lambda done: self.stderr.write(f"{done} meters checked"),
        )
        self.stdout.write(
            f"{counts.registers} registers checked: {counts.raised} exceptions raised, "
            f"{counts.auto_resolved} auto-resolved, {counts.moved} moved"
        )
