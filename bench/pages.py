"""Time the admin pages and API calls people make, against an already loaded database.

Usage: DATABASE_URL=... python bench/pages.py [MPAN]
Prints one JSON object: page name -> median milliseconds over 5 requests (after one
warm-up), through Django's test client with a superuser.
"""

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
from django.test import Client  # noqa: E402

from meter_readings.models import Reading  # noqa: E402

REPEATS = 5


def median_ms(client: Client, url: str) -> float:
    client.get(url)
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return round(statistics.median(timings), 1)


def _fiftieth_page(client: Client) -> str:
    """The URL of the 50th page of readings, reached by following cursors."""
    url = "/api/readings/"
    for _ in range(49):
        url = client.get(url).json()["next"].replace("http://testserver", "")
    return url


def main() -> None:
    users = get_user_model().objects
    user = users.filter(username="bench").first() or users.create_superuser("bench", "", None)
    client = Client()
    client.force_login(user)
    reading = Reading.objects.select_related("meter__meter_point").order_by("-pk").first()
    mpan = sys.argv[1] if len(sys.argv) > 1 else reading.meter.meter_point.mpan_core
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
    }
    print(json.dumps({name: median_ms(client, url) for name, url in pages.items()}))


if __name__ == "__main__":
    main()
