"""Import one file in a fresh process and print what it cost, as JSON.

Usage: DATABASE_URL=... python bench/import_once.py FILE
Prints {"seconds", "readings", "duplicates", "peak_rss_mb", "status"}; the time covers
the import service alone (not Python start-up or Django set-up).
"""

import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.utils import timezone  # noqa: E402

from meter_readings.services import import_flow_file  # noqa: E402


def main() -> None:
    path = Path(sys.argv[1])
    started = time.perf_counter()
    with path.open("rb") as stream:
        report = import_flow_file(stream=stream, filename=path.name, received_at=timezone.now())
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "readings": report.readings_imported,
                "duplicates": report.readings_duplicate,
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "status": report.status.lower(),
            }
        )
    )


if __name__ == "__main__":
    main()
