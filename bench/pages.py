"""Time the admin pages and API calls people make, against an already loaded database.

Usage: DATABASE_URL=... python bench/pages.py [--repeats N] [--mpan MPAN] [--long-history ID]
Prints one JSON object: page name -> {"p50", "p99", "max"} milliseconds over N requests
(default 20, after one warm-up), through Django's test client with a superuser. A CSV
download is timed to its first chunk (what a user waits for before it starts).

The exceptions queue needs exceptions: where the database holds fewer than 2% of its
readings' worth, an open exception is added on every 50th reading (as a file of failed
reads would raise them), so that its pages are timed at a realistic size.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from config.startup import freeze_startup_objects  # noqa: E402
from django.test import Client  # noqa: E402

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from meter_readings.models import Reading, ReadingException  # noqa: E402

EXCEPTION_EVERY = 50


def timed_ms(client: Client, url: str, repeats: int) -> dict[str, float]:
    """Percentiles of ``repeats`` requests; a CSV download is timed to its first chunk
    (a whole book's export streams for minutes), another streamed body to its end."""

    def request() -> float:
        started = time.perf_counter()
        response = client.get(url)
        if hasattr(response, "streaming_content"):
            chunks = iter(response.streaming_content)
            if ".csv" in url:
                next(chunks)
                response.close()
            else:
                b"".join(chunks)
        assert response.status_code == 200, (url, response.status_code)
        return (time.perf_counter() - started) * 1000

    request()
    timings = [request() for _ in range(repeats)]
    percentiles = statistics.quantiles(timings, n=100, method="inclusive")
    return {
        "p50": round(statistics.median(timings), 1),
        "p99": round(percentiles[98], 1),
        "max": round(max(timings), 1),
    }


def approximate_readings() -> int:
    """The reading count: PostgreSQL's own estimate there (an exact count of a national
    book takes seconds), an exact count on SQLite."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [Reading._meta.db_table],
            )
            estimate = cursor.fetchone()[0]
        if estimate > 0:
            return estimate
    return Reading.objects.count()


def seed_exceptions() -> None:
    """An open exception on every 50th reading, unless the checks raised that many."""
    readings = approximate_readings()
    if ReadingException.objects.count() >= readings // EXCEPTION_EVERY:
        return
    now = timezone.now()
    rows = (
        Reading.objects.filter(pk__in=range(1, readings + 1, EXCEPTION_EVERY))
        .select_related("meter", "flow_file")
        .exclude(exceptions__rule="COLLECTOR_FAILED")
        .order_by("pk")
        .iterator(chunk_size=5000)
    )
    batch = []
    for reading in rows:
        batch.append(
            ReadingException(
                reading=reading,
                rule="COLLECTOR_FAILED",
                reason_code="05",
                detail="seeded by bench/pages.py",
                raised_at=now,
                status_changed_at=now,
                meter_point_id=reading.meter.meter_point_id,
                meter_id=reading.meter_id,
                register_id=reading.register_id,
                read_at=reading.read_at,
                sender=reading.flow_file.sender,
            )
        )
        if len(batch) == 5000:
            ReadingException.objects.bulk_create(batch)
            batch.clear()
    ReadingException.objects.bulk_create(batch)
    # As autovacuum would have by the time anyone reads them.
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {ReadingException._meta.db_table}")


def _fiftieth_page(client: Client) -> str:
    """The URL of the 50th page of readings, reached by following cursors."""
    url = "/api/readings/"
    for _ in range(49):
        url = client.get(url).json()["next"].replace("http://testserver", "")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--mpan", help="the MPAN searched for (default: the latest read's)")
    parser.add_argument(
        "--long-history", type=int, help="the id of a meter point with years of readings"
    )
    args = parser.parse_args()
    # As the web processes do once loaded (config/wsgi.py).
    freeze_startup_objects()
    users = get_user_model().objects
    user = users.filter(username="bench").first() or users.create_superuser("bench", "", None)
    client = Client()
    client.force_login(user)
    seed_exceptions()
    reading = Reading.objects.select_related("meter__meter_point").order_by("-pk").first()
    mpan = args.mpan or reading.meter.meter_point.mpan_core
    pages = {
        "admin reading list": "/admin/meter_readings/reading/",
        "admin reading list, MPAN search": f"/admin/meter_readings/reading/?q={mpan}",
        "admin reading list, serial search": (
            f"/admin/meter_readings/reading/?q={reading.meter.serial_number}"
        ),
        "admin reading page": f"/admin/meter_readings/reading/{reading.pk}/change/",
        "admin flow file list": "/admin/meter_readings/flowfile/",
        "dashboard (admin index)": "/admin/",
        "meter point page (charts)": (
            f"/admin/meter_readings/meterpoint/{reading.meter.meter_point_id}/history/"
        ),
        "import page": "/admin/meter_readings/flowfile/import/",
        "API readings list": "/api/readings/",
        "API readings ?mpan=": f"/api/readings/?mpan={mpan}",
        "API readings ?serial=": f"/api/readings/?serial={reading.meter.serial_number}",
        "API readings, 50th page by cursor": _fiftieth_page(client),
        "admin exceptions queue": "/admin/meter_readings/readingexception/",
        "admin exceptions queue, by rule": (
            "/admin/meter_readings/readingexception/?rule=COLLECTOR_FAILED&status=all"
        ),
        "API exceptions list": "/api/exceptions/",
        "API exceptions ?rule=&age=": "/api/exceptions/?rule=COLLECTOR_FAILED&age=lt1w",
        "API stale-read report": "/api/reports/stale-reads/?months=1",
        "API consumption of a meter point": (
            f"/api/meter-points/{reading.meter.meter_point_id}/consumption/"
        ),
        "open exceptions CSV, first byte": (
            "/admin/meter_readings/readingexception/open-by-rule-and-age.csv"
        ),
        "stale-read CSV, first byte": "/admin/meter_readings/meterpoint/stale-reads.csv",
        "readings CSV export, first byte": "/api/readings/export.csv",
        "readings CSV export of an MPAN, first byte": f"/api/readings/export.csv?mpan={mpan}",
    }
    if args.long_history:
        pages["meter point page, 10 years of reads"] = (
            f"/admin/meter_readings/meterpoint/{args.long_history}/history/"
        )
        pages["API consumption, 10 years of reads"] = (
            f"/api/meter-points/{args.long_history}/consumption/"
        )
    print(json.dumps({name: timed_ms(client, url, args.repeats) for name, url in pages.items()}))


if __name__ == "__main__":
    main()
