"""``manage.py export_readings``: readings as CSV, with the API's filters and columns."""

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meter_readings import selectors
from meter_readings.filters import ReadingFilter
from meter_readings.export import csv_lines


class Command(BaseCommand):
    help = (
        "Write readings as CSV (the columns of /api/readings/export.csv) to standard output "
        "or --output FILE. Filters are those of the API: --mpan, --serial, --filename, "
        "--flow-file, --register, --reading-type, --read-after, --read-before, --superseded."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")
        for name in ReadingFilter.base_filters:
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar="VALUE")

    def handle(self, *args: Any, **options: Any) -> None:
        data = {
            name: options[name] for name in ReadingFilter.base_filters if options[name] is not None
        }
        readings = ReadingFilter(data, queryset=selectors.readings())
        if not readings.is_valid():
            problems = "; ".join(
                f"--{name.replace('_', '-')}: {' '.join(messages)}"
                for name, messages in readings.errors.items()
            )
            raise CommandError(problems, returncode=2)
        lines = csv_lines(readings.qs.order_by("id"))
        if options["output"]:
            try:
                with open(options["output"], "w", encoding="utf-8", newline="") as out:
                    count = sum(1 for _ in map(out.write, lines)) - 1
            except OSError as problem:
                raise CommandError(f"cannot write {options['output']}: {problem.strerror}")
            self.stderr.write(f"{count} readings written to {options['output']}")
        else:
            for line in lines:
                sys.stdout.write(line)
