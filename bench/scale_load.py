"""The load of ``make bench-scale``: locust users on one page each (LOAD_PAGE).

Run by bench/scale_run.py with locust (installed in .venv-load), against gunicorn:
    LOAD_PAGE=api_by_mpan LOAD_TOKEN=... LOAD_SESSION=... LOAD_METER_POINTS=5000000 \
    locust -f bench/scale_load.py --headless -u 2 -r 2 -t 60s --host http://127.0.0.1:8001

Pages: ``api_by_mpan`` (GET /api/readings/?mpan= of a random meter point),
``reading_list`` (the admin reading list), ``meter_point`` (the admin meter point page of
a random meter point), or ``mix`` (the three in turn). MPAN cores follow the scale
build's numbering (bench/scale_build.py), so a random meter point is any of the book's.
"""

import os
import random

from locust import FastHttpUser, constant, task

WEIGHTS = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)
PAGE = os.environ.get("LOAD_PAGE", "mix")
METER_POINTS = int(os.environ.get("LOAD_METER_POINTS", "1"))


def mpan_core(meter_point_id: int) -> str:
    """The MPAN core bench/scale_build.py gave meter point ``meter_point_id``."""
    body = f"{10 + meter_point_id % 14:02d}{meter_point_id:010d}"
    return body + str(sum(int(d) * w for d, w in zip(body, WEIGHTS)) % 11 % 10)


class Reader(FastHttpUser):
    """A user of the API or the console, asking for one page after another."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.api_headers = {"Authorization": f"Token {os.environ.get('LOAD_TOKEN', '')}"}
        self.console_headers = {"Cookie": f"sessionid={os.environ.get('LOAD_SESSION', '')}"}
        self.turn = 0

    def api_by_mpan(self) -> None:
        meter_point = random.randint(1, METER_POINTS)
        self.client.get(
            f"/api/readings/?mpan={mpan_core(meter_point)}",
            headers=self.api_headers,
            name="API readings ?mpan=",
        )

    def reading_list(self) -> None:
        self.client.get(
            "/admin/meter_readings/reading/",
            headers=self.console_headers,
            name="admin reading list",
        )

    def meter_point(self) -> None:
        meter_point = random.randint(1, METER_POINTS)
        self.client.get(
            f"/admin/meter_readings/meterpoint/{meter_point}/history/",
            headers=self.console_headers,
            name="admin meter point page",
        )

    @task
    def next_page(self) -> None:
        if PAGE == "mix":
            pages = (self.api_by_mpan, self.reading_list, self.meter_point)
            pages[self.turn % 3]()
            self.turn += 1
        else:
            getattr(self, PAGE)()
