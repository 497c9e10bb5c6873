"""The reading checks' look-back in a ``make bench-scale`` book, with and without its
index-only scan (decision record 15).

Usage: DATABASE_URL=postgres://.../d0010_scale_100m \
    python bench/scale_lookback.py [METERS [FIRST]]

Each round reads back METERS meters (5,000 unless given) that no earlier round read
(every 1009th meter, from offset FIRST, 500 unless given, then the next; a later run
on the same book takes another FIRST to meet unread pages again), with each of the
book's register ids, since 2026-12-01: the look-back of a file of their next reads.
The two ways alternate (``enable_indexonlyscan`` on, then off: the same index, reading
the table for each row), so both meet the same cache; each round prints its rows and
seconds.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django  # noqa: E402

django.setup()
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from meter_readings.services._register_checks import RegisterChecker, Touched  # noqa: E402

ROUNDS = ("on", "off", "off", "on", "on", "off", "off", "on")


def main() -> None:
    meters = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    checker = RegisterChecker(now=timezone.now())
    touched = Touched(
        "SELECT m.id AS meter_id, g.register_id, TIMESTAMPTZ '2026-12-01' AS since "
        "FROM (SELECT id FROM meter_readings_meter WHERE id %% 1009 = %s ORDER BY id LIMIT %s) m, "
        "unnest(ARRAY['S','01','02','03','DY','NT','TO','A1']) AS g(register_id)",
        [0, meters],
    )
    for round_number, mode in enumerate(ROUNDS):
        touched.params = [first + round_number, meters]
        sql, params = checker.look_back(touched)
        with connection.cursor() as cursor:
            cursor.execute(f"SET enable_indexonlyscan = {mode}")
            started = time.perf_counter()
            cursor.execute(sql, params)
            rows = len(cursor.fetchall())
            seconds = time.perf_counter() - started
            cursor.execute("EXPLAIN " + sql, params)
            plan = " ".join(row[0] for row in cursor.fetchall())
        only = "Index Only Scan" in plan
        print(
            f"index-only {mode:3} plan-index-only={only!s:5} rows {rows:6} {seconds:6.2f} s "
            f"{seconds / max(rows, 1) * 1e6:6.0f} us/row",
            flush=True,
        )


if __name__ == "__main__":
    main()
