"""``make bench-scale``: a national book on PostgreSQL, and what it costs to serve.

Usage: python bench/scale_run.py [--scale 100M]
       [--only import,pages,load,warm,import-warm,during,parallel,disk]

Builds (or reuses) the database of bench/scale_build.py, then measures, each part in
fresh processes against the built database:

- import: a 300k-reading file of new reads of held meter points (the next reads of
  every 25th meter point's registers), first import and re-import under a new file
  identifier, into the book, into an empty database and into a database holding only
  those meter points' history (copied from the book), in the same run; and a file of
  new meter points into the book and into an empty database;
- pages: every page bench/pages.py times, p50 and p99 over 50 requests;
- load: gunicorn with 2 workers, locust (installed in .venv-load) at 2 and 16 clients
  for 60 s each on the API by MPAN, the admin reading list and the meter point page;
- warm: the reading table and the pages' indexes read into memory (pg_prewarm), then
  the load again;
- import-warm: another file of next reads into its history alone, then into the book
  with what an import reads of it (the indexes keyed by meter) in memory;
- during: the three pages in turn at 2 clients for 60 s, alone and while a 300k file
  imports through the API's background upload on a Celery worker (the real Redis);
- parallel: 4 files of 250k readings of the same meter points, through 1 and then
  2 Celery workers: throughput, and every reading stored exactly once;
- disk: bytes per reading of the reading table and each of its indexes, and the time
  of VACUUM ANALYZE.

Each run adds its files' readings to the book (new reads of meter points no earlier
run used), so a reused book grows by about 2.9M readings a run. Writes the results to
bench/out/scale-results.md and prints them.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import write_file  # noqa: E402
from run import sh  # noqa: E402
from scale_build import ADMIN_URL, Build, database_url, parse_scale, say  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PY = sys.executable
LOCUST = ROOT / ".venv-load" / "bin" / "locust"
EMPTY_DB = "d0010_scale_empty"
# A database holding only the history of the file's meter points, copied from the book.
HISTORY_DB = "d0010_scale_history"
# Each table the copy takes, in the order its references need, with the rows it takes:
# every flow file (thousands), and the chosen meter points' everything else.
HISTORY_ROWS = (
    ("meter_readings_flowfile", "true"),
    ("meter_readings_meterpoint", "id IN (SELECT id FROM chosen)"),
    ("meter_readings_meter", "meter_point_id IN (SELECT id FROM chosen)"),
    (
        "meter_readings_reading",
        "meter_id IN (SELECT id FROM meter_readings_meter"
        " WHERE meter_point_id IN (SELECT id FROM chosen))",
    ),
    ("meter_readings_meterpointreadstate", "meter_point_id IN (SELECT id FROM chosen)"),
    ("meter_readings_sitevisit", "meter_point_id IN (SELECT id FROM chosen)"),
    ("meter_readings_readingexception", "meter_point_id IN (SELECT id FROM chosen)"),
)
PORT = 8011
# A Redis database of its own: the tests' Celery worker uses 13.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
# Each file a run writes takes an offset no earlier file used: every k-th meter point
# from it (k chosen so that a file finds 300k registers: 25 in a book of 100M), read at
# 06:00 on 2026-12-01 plus 10 minutes an offset (after every read the book holds).
OFFSETS = 60
IMPORT_READINGS = 300_000
PARALLEL_FILES, PARALLEL_READINGS = 4, 250_000
# Seconds of each load run (--load-seconds; 60 unless a quick look is wanted).
LOAD_SECONDS = 60
WEIGHTS = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)


def django_env(url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJANGO_SECURE_COOKIES": "false",
        # One benchmark user asks for far more than a person would.
        "D0010_API_USER_RATE": "1000000/minute",
        "D0010_API_UPLOAD_RATE": "1000/hour",
        # The uploaded files kept as evidence: the benchmark's own, removed with bench/out.
        "DJANGO_MEDIA_ROOT": str(OUT / "scale-media"),
        **extra,
    }


# -- files of new reads of held meter points ------------------------------------------


def used_offsets(url: str) -> set[int]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT filename FROM meter_readings_flowfile WHERE filename LIKE 'bench-scale-%%'"
        ).fetchall()
    return {int(name.split("-")[2]) for (name,) in rows}


def next_offset(url: str) -> int:
    used = used_offsets(url)
    free = [offset for offset in range(OFFSETS) if offset not in used]
    if not free:
        raise SystemExit(f"{OFFSETS} benchmark files are in the book already: rebuild it.")
    return free[0]


def stride(url: str) -> int:
    """Every how many meter points a file takes, to find IMPORT_READINGS registers."""
    return max(1, meter_point_count(url) * 3 // (2 * IMPORT_READINGS))


def read_time(offset: int, number: int = 0) -> datetime:
    return datetime(2026, 12, 1, 6, 0) + timedelta(minutes=10 * offset + number)


def write_next_reads(
    url: str, offset: int, path: Path, *, readings: int, read_at: datetime, file_id: str
) -> int:
    """A D0010 of the next reads of the latest meter of every k-th meter point."""
    return write_next_reads_files(url, offset, [(path, read_at, file_id)], readings=readings)


def write_next_reads_files(
    url: str, offset: int, files: list[tuple[Path, datetime, str]], *, readings: int
) -> int:
    """Files of the next reads of the same registers, one a (path, read time, file id),
    from one query; returns the readings each holds."""
    every = stride(url)
    query = f"""
        SELECT p.mpan_core, m.serial_number, r.register_id, r.value, r.read_at
        FROM meter_readings_meterpoint p
        JOIN LATERAL (SELECT id, serial_number FROM meter_readings_meter
                      WHERE meter_point_id = p.id ORDER BY id DESC LIMIT 1) m ON true
        JOIN LATERAL (SELECT DISTINCT ON (register_id) register_id, value, read_at
                      FROM meter_readings_reading
                      WHERE meter_id = m.id AND NOT is_superseded
                      ORDER BY register_id, read_at DESC) r ON true
        WHERE p.id % {every} = {offset % every}
        ORDER BY p.id, r.register_id
        LIMIT {readings}"""
    with psycopg.connect(url) as connection:
        rows = connection.execute(query).fetchall()
    for path, read_at, file_id in files:
        _write_reads(rows, path, read_at=read_at, file_id=file_id)
    return len(rows)


def next_reads_file(url: str, kind: str, id_letter: str) -> tuple[Path, int]:
    """A file of IMPORT_READINGS next reads at the first offset no earlier file used
    (``kind`` names it, ``id_letter`` starts its file identifier): its path and readings."""
    offset = next_offset(url)
    path = OUT / f"bench-scale-{offset}-{kind}.uff"
    count = write_next_reads(
        url,
        offset,
        path,
        readings=IMPORT_READINGS,
        read_at=read_time(offset),
        file_id=f"{id_letter}{offset:09d}",
    )
    return path, count


def _write_reads(rows: list[tuple], path: Path, *, read_at: datetime, file_id: str) -> None:
    stamp = read_at.strftime("%Y%m%d%H%M%S")
    created = (read_at + timedelta(hours=20)).strftime("%Y%m%d%H%M%S")
    groups = flows = 0
    with path.open("w", newline="\n") as out:
        out.write(f"ZHV|{file_id}|D0010002|D|DC01|X|SUPP|{created}||||OPER|\n")
        last_mpan = last_serial = None
        for mpan, serial, register, value, last_read_at in rows:
            if mpan != last_mpan:
                out.write(f"026|{mpan}|V|\n")
                groups += 1
                flows += 1
                last_mpan, last_serial = mpan, None
            if serial != last_serial:
                out.write(f"028|{serial}|R|\n")
                groups += 1
                last_serial = serial
            # 8 kWh a day since the last read: about what the book's registers advance.
            days = (read_at.replace(tzinfo=last_read_at.tzinfo) - last_read_at).days
            advance = Decimal(8 * max(days, 0))
            out.write(f"030|{register}|{stamp}|{(value + advance) % 1000000:.1f}|||T|N|\n")
            groups += 1
        out.write(f"ZPT|{file_id}|{groups}||{flows}|{created}|\n")


# -- processes --------------------------------------------------------------------------


def import_once(url: str, path: Path) -> dict:
    return json.loads(sh([PY, "bench/import_once.py", str(path)], django_env(url)))


def fresh_database(name: str) -> str:
    """A new, migrated and empty database ``name`` (dropped first if it exists)."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    url = database_url(ADMIN_URL, name)
    sh([PY, "manage.py", "migrate", "-v0"], {"DATABASE_URL": url})
    return url


def history_database(book_url: str, path: Path) -> tuple[str, dict]:
    """A new database holding only the history of ``path``'s meter points, copied from
    the book: the same file's checks read back the same readings in both, so the ratio
    of the two imports is what the book's size costs, apart from the checks' work."""
    started = time.perf_counter()
    url = fresh_database(HISTORY_DB)
    mpans = [line.split("|")[1] for line in path.open() if line.startswith("026|")]
    copied = {}
    with psycopg.connect(book_url) as book, psycopg.connect(url) as history:
        book.execute(
            "CREATE TEMP TABLE chosen AS SELECT id FROM meter_readings_meterpoint"
            " WHERE mpan_core = ANY(%s)",
            [mpans],
        )
        # One transaction: the foreign keys (deferred) are checked once, at its end.
        for table, rows in HISTORY_ROWS:
            names = history.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
                " ORDER BY ordinal_position",
                [table],
            ).fetchall()
            columns = ", ".join(f'"{name}"' for (name,) in names)
            source = f"COPY (SELECT {columns} FROM {table} WHERE {rows}) TO STDOUT (FORMAT BINARY)"
            with (
                book.cursor().copy(source) as out,
                history.cursor().copy(
                    f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"
                ) as into,
            ):
                for block in out:
                    into.write(block)
            copied[table.removeprefix("meter_readings_")] = history.execute(
                f"SELECT count(*) FROM {table}"
            ).fetchone()[0]
            if ("id",) in names:
                # The next row the import writes takes the id after the copied ones.
                history.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id))"
                    f" FROM {table} HAVING max(id) IS NOT NULL"
                )
    with psycopg.connect(url, autocommit=True) as history:
        history.execute("ANALYZE")
    copied["seconds"] = round(time.perf_counter() - started, 1)
    return url, copied


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path):
    """A background process for the length of the block, stopped (with its children)."""
    with log.open("w") as output:
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def gunicorn(url: str):
    # Background uploads go to the Celery workers (without a broker they would run in
    # the web process, and past gunicorn's 30 s timeout).
    return running(
        [
            str(Path(PY).parent / "gunicorn"),
            "config.wsgi",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--access-logfile",
            "-",
        ],
        django_env(url, CELERY_BROKER_URL=REDIS_URL),
        OUT / "scale-gunicorn.log",
    )


def celery_worker(url: str, concurrency: int, name: str):
    return running(
        [
            str(Path(PY).parent / "celery"),
            "-A",
            "config",
            "worker",
            "--concurrency",
            str(concurrency),
            "--pool",
            "prefork",
            "--loglevel",
            "WARNING",
            "-n",
            f"{name}@%h",
        ],
        django_env(url, CELERY_BROKER_URL=REDIS_URL),
        OUT / f"scale-celery-{name}.log",
    )


def wait_for_http(url: str, seconds: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def credentials(url: str) -> dict[str, str]:
    """A superuser's API token and console session, for the load."""
    script = (
        "from django.contrib.auth import get_user_model;"
        "from django.contrib.sessions.backends.db import SessionStore;"
        "from rest_framework.authtoken.models import Token;"
        "import json;"
        "users = get_user_model().objects;"
        "user = users.filter(username='bench').first() "
        "or users.create_superuser('bench', '', None);"
        "session = SessionStore();"
        "session['_auth_user_id'] = str(user.pk);"
        "session['_auth_user_backend'] = 'django.contrib.auth.backends.ModelBackend';"
        "session['_auth_user_hash'] = user.get_session_auth_hash();"
        "session.create();"
        "print(json.dumps({'token': Token.objects.get_or_create(user=user)[0].key,"
        " 'session': session.session_key}))"
    )
    output = sh([PY, "manage.py", "shell", "-c", script], django_env(url))
    return json.loads(output.strip().splitlines()[-1])


def locust(page: str, clients: int, seconds: int, secrets: dict, meter_points: int) -> dict:
    """One locust run; its aggregate: requests/s, p50, p99 (ms) and failures."""
    prefix = OUT / f"locust-{page}-{clients}"
    sh(
        [
            str(LOCUST),
            "-f",
            "bench/scale_load.py",
            "--headless",
            "--users",
            str(clients),
            "--spawn-rate",
            str(clients),
            "--run-time",
            f"{seconds}s",
            "--host",
            f"http://127.0.0.1:{PORT}",
            "--csv",
            str(prefix),
            "--only-summary",
            "--exit-code-on-error",
            "0",
        ],
        {
            "LOAD_PAGE": page,
            "LOAD_TOKEN": secrets["token"],
            "LOAD_SESSION": secrets["session"],
            "LOAD_METER_POINTS": str(meter_points),
        },
    )
    import csv

    with open(f"{prefix}_stats.csv") as stats:
        rows = list(csv.DictReader(stats))
    result = {}
    for row in rows:
        result[row["Name"]] = {
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "rps": round(float(row["Requests/s"]), 1),
            "p50": float(row["50%"]),
            "p99": float(row["99%"]),
        }
    return result


# -- the parts --------------------------------------------------------------------------


def measure_import(url: str) -> dict:
    offset = next_offset(url)
    first = OUT / f"bench-scale-{offset}-first.uff"
    again = OUT / f"bench-scale-{offset}-again.uff"
    read_at = read_time(offset)
    count = write_next_reads_files(
        url,
        offset,
        [(first, read_at, f"S{offset:09d}"), (again, read_at, f"R{offset:09d}")],
        readings=IMPORT_READINGS,
    )
    # And a file of meter points neither database holds (bench/generate.py): the same
    # work in both, so what the book's size costs.
    new = OUT / f"bench-scale-{offset}-new.uff"
    new_again = OUT / f"bench-scale-{offset}-newagain.uff"
    write_file(IMPORT_READINGS, str(new), seed=1000 + offset, file_id=f"N{offset:09d}")
    write_file(IMPORT_READINGS, str(new_again), seed=1000 + offset, file_id=f"M{offset:09d}")
    # Copied before the book holds the file's readings.
    history, copied = history_database(url, first)
    say(f"history of the file's meter points copied: {copied}")
    empty = fresh_database(EMPTY_DB)
    results = {
        "readings": count,
        "history": copied,
        "history first": import_once(history, first),
        "history again": import_once(history, again),
        "empty first": import_once(empty, first),
        "empty again": import_once(empty, again),
        "empty new": import_once(empty, new),
        "empty new again": import_once(empty, new_again),
        "book first": import_once(url, first),
        "book again": import_once(url, again),
        "book new": import_once(url, new),
        "book new again": import_once(url, new_again),
    }
    assert results["history first"]["readings"] == count, results
    assert results["book first"]["readings"] == count, results
    assert results["book again"]["duplicates"] == count, results
    assert results["book new"]["readings"] == IMPORT_READINGS, results
    return results


def measure_pages(url: str) -> dict:
    with psycopg.connect(url) as connection:
        long_history = connection.execute(
            "SELECT m.meter_point_id FROM meter_readings_reading r"
            " JOIN meter_readings_meter m ON m.id = r.meter_id"
            " WHERE m.meter_point_id = 1 LIMIT 1"
        ).fetchone()
    args = [PY, "bench/pages.py", "--repeats", "50"]
    if long_history:
        args += ["--long-history", str(long_history[0])]
    return json.loads(sh(args, django_env(url)))


def meter_point_count(url: str) -> int:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT max(id) FROM meter_readings_meterpoint").fetchone()[0]


def measure_load(url: str) -> dict:
    secrets = credentials(url)
    meter_points = meter_point_count(url)
    results: dict = {}
    with gunicorn(url):
        wait_for_http(f"http://127.0.0.1:{PORT}/health/")
        for page in ("api_by_mpan", "reading_list", "meter_point"):
            for clients in (2, 16):
                results[f"{page} {clients}"] = locust(
                    page, clients, LOAD_SECONDS, secrets, meter_points
                )
                say(f"load {page} at {clients}: {results[f'{page} {clients}']}")
    return results


# What the three loaded pages read of the reading table: its rows, and the one-column
# indexes of the meter (API by MPAN, meter point page) and of the read time (the list).
PAGES_READ_SQL = (
    "SELECT 'meter_readings_reading' UNION ALL "
    "SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_attribute a "
    "ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
    "WHERE i.indrelid = 'meter_readings_reading'::regclass AND i.indnatts = 1 "
    "AND a.attname IN ('meter_id', 'read_at')"
)


def prewarm(url: str, relations_sql: str = PAGES_READ_SQL) -> dict:
    """Read the relations ``relations_sql`` names (by default the reading table and
    what the pages use of its indexes) into memory (``pg_prewarm``, into the operating
    system's cache): as a server that has served its book for a while, or was sized to
    hold it, has them."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        relations = [row[0] for row in connection.execute(relations_sql)]
        blocks = sum(
            connection.execute("SELECT pg_prewarm(%s::regclass, 'read')", [name]).fetchone()[0]
            for name in relations
        )
    return {
        "relations": relations,
        "gigabytes": round(blocks * 8192 / 1e9, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }


# What an import of next reads reads of the book: the reading indexes keyed by meter
# (the match, the inserts and the checks' look-back probe them), the meters, meter
# points, read states and exceptions with their indexes. Not the reading table itself:
# the look-back reads the covering index alone, and new rows go at the table's end.
IMPORT_READ_SQL = (
    "SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_attribute a "
    "ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
    "WHERE i.indrelid = 'meter_readings_reading'::regclass AND a.attname = 'meter_id' "
    "UNION ALL SELECT c.relname::text FROM pg_class c WHERE c.relname IN "
    "('meter_readings_meter', 'meter_readings_meterpoint', "
    "'meter_readings_meterpointreadstate', 'meter_readings_readingexception') "
    "UNION ALL SELECT i.indexrelid::regclass::text FROM pg_index i WHERE i.indrelid IN "
    "('meter_readings_meter'::regclass, 'meter_readings_meterpoint'::regclass, "
    "'meter_readings_meterpointreadstate'::regclass, "
    "'meter_readings_readingexception'::regclass)"
)


def measure_warm_import(url: str) -> dict:
    """A file of next reads into its history alone, then into the book with what the
    import reads of it in memory (``prewarm``): what the book's size costs an import
    on a server sized to hold its indexes, apart from the disk."""
    path, count = next_reads_file(url, "warm", "W")
    history, copied = history_database(url, path)
    results = {"readings": count, "history": copied, "history first": import_once(history, path)}
    results["prewarm"] = prewarm(url, IMPORT_READ_SQL)
    say(f"prewarmed {results['prewarm']['gigabytes']} GB in {results['prewarm']['seconds']} s")
    results["book first"] = import_once(url, path)
    assert results["book first"]["readings"] == count, results
    return results


def measure_warm_load(url: str) -> dict:
    """The load again, with the reading table in memory (``prewarm``)."""
    warmed = prewarm(url)
    say(f"prewarmed {warmed['gigabytes']} GB in {warmed['seconds']} s")
    return {"prewarm": warmed, "load": measure_load(url)}


def upload(path: Path, token: str) -> int:
    import urllib.request
    import uuid

    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/api/flow-files/?background=true",
        data=body,
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())["flow_file_id"]


def wait_for_files(url: str, ids: list[int], seconds: float = 1800) -> list[tuple]:
    deadline = time.monotonic() + seconds
    with psycopg.connect(url, autocommit=True) as connection:
        while time.monotonic() < deadline:
            rows = connection.execute(
                "SELECT id, status, readings_imported, readings_duplicate, finished_at"
                " FROM meter_readings_flowfile WHERE id = ANY(%s) ORDER BY id",
                [ids],
            ).fetchall()
            if all(row[1] not in ("QUEUED", "STARTED", "RUNNING") for row in rows):
                return rows
            time.sleep(0.5)
    raise SystemExit(f"flow files {ids} did not finish within {seconds:.0f} s")


def stored_readings(url: str, ids: list[int]) -> int:
    with psycopg.connect(url) as connection:
        return connection.execute(
            "SELECT count(*) FROM meter_readings_reading WHERE flow_file_id = ANY(%s)", [ids]
        ).fetchone()[0]


def measure_during_import(url: str) -> dict:
    secrets = credentials(url)
    meter_points = meter_point_count(url)
    path, count = next_reads_file(url, "during", "D")
    results: dict = {"readings": count}
    with gunicorn(url), celery_worker(url, 1, "during"):
        wait_for_http(f"http://127.0.0.1:{PORT}/health/")
        results["alone"] = locust("mix", 2, LOAD_SECONDS, secrets, meter_points)
        started = time.perf_counter()
        flow_file = upload(path, secrets["token"])
        results["during"] = locust("mix", 2, LOAD_SECONDS, secrets, meter_points)
        rows = wait_for_files(url, [flow_file])
        results["import seconds"] = round(time.perf_counter() - started, 1)
    results["file"] = {"status": rows[0][1], "readings_imported": rows[0][2]}
    results["stored"] = stored_readings(url, [flow_file])
    assert results["stored"] == count, results
    return results


def measure_parallel(url: str) -> dict:
    results: dict = {}
    for workers in (1, 2):
        offset = next_offset(url)
        paths = [
            OUT / f"bench-scale-{offset}-parallel-{number}.uff" for number in range(PARALLEL_FILES)
        ]
        each = write_next_reads_files(
            url,
            offset,
            [
                (path, read_time(offset, number), f"P{offset:02d}{number:07d}")
                for number, path in enumerate(paths)
            ],
            readings=PARALLEL_READINGS,
        )
        written = each * PARALLEL_FILES
        script = (
            "import json, sys;"
            "from django.core.files import File;"
            "from meter_readings.services.queueing import queue_import;"
            "ids = [];"
            "[ids.append(queue_import(upload=File(open(p, 'rb')), filename=p.rsplit('/', 1)[1]).pk)"
            " for p in sys.argv[1:]];"
            "print(json.dumps(ids))"
        )
        with celery_worker(url, workers, f"parallel{workers}"):
            started = time.perf_counter()
            output = sh(
                [PY, "-c", "import django; django.setup(); exec(" + repr(script) + ")"]
                + [str(path) for path in paths],
                django_env(
                    url, CELERY_BROKER_URL=REDIS_URL, DJANGO_SETTINGS_MODULE="config.settings"
                ),
            )
            ids = json.loads(output.strip().splitlines()[-1])
            rows = wait_for_files(url, ids)
            seconds = time.perf_counter() - started
        stored = stored_readings(url, ids)
        assert stored == written and all(row[1] == "IMPORTED" for row in rows), rows
        results[f"{workers} worker(s)"] = {
            "seconds": round(seconds, 1),
            "readings per second": round(stored / seconds),
            "statuses": sorted({row[1] for row in rows}),
            "imported": sum(row[2] for row in rows),
            "duplicates": sum(row[3] for row in rows),
            "stored": stored,
            "expected": written,
        }
        say(f"parallel, {workers} worker(s): {results[f'{workers} worker(s)']}")
    return results


def measure_disk(url: str) -> dict:
    with psycopg.connect(url, autocommit=True) as connection:
        readings = connection.execute("SELECT count(*) FROM meter_readings_reading").fetchone()[0]
        sizes = connection.execute(
            "SELECT c.relname, c.relkind, pg_relation_size(c.oid)"
            " FROM pg_class c WHERE c.oid = 'meter_readings_reading'::regclass"
            " OR c.oid IN (SELECT indexrelid FROM pg_index"
            "              WHERE indrelid = 'meter_readings_reading'::regclass)"
            " ORDER BY pg_relation_size(c.oid) DESC"
        ).fetchall()
        database = connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        started = time.perf_counter()
        connection.execute("VACUUM ANALYZE")
        vacuum = time.perf_counter() - started
    return {
        "readings": readings,
        "database bytes": database,
        "relations": [
            {"name": name, "kind": "table" if kind == "r" else "index", "bytes": size}
            for name, kind, size in sizes
        ],
        "vacuum analyze seconds": round(vacuum, 1),
    }


# -- the report -----------------------------------------------------------------------


def load_table(title: str, load: dict) -> list[str]:
    lines = [
        f"{title}: gunicorn with 2 workers, locust for {LOAD_SECONDS} s (the 16-client p50 "
        "a queue of 16 over 2 workers implies: 8x the 2-client p50):",
        "",
        "| page | clients | requests/s | p50 ms | p99 ms | errors | implied p50 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, runs in load.items():
        page, clients = key.rsplit(" ", 1)
        row = runs["Aggregated"]
        two = load[f"{page} 2"]["Aggregated"]
        implied = f"{two['p50'] * 8:.0f}" if clients == "16" else ""
        lines.append(
            f"| {page} | {clients} | {row['rps']} | {row['p50']:.0f} | {row['p99']:.0f} | "
            f"{row['failures']} | {implied} |"
        )
    return lines + [""]


def report(scale: str, build_seconds: float | None, results: dict) -> str:
    lines = [f"`make bench-scale SCALE={scale}`, {time.strftime('%Y-%m-%d')}", ""]
    if build_seconds is not None:
        lines += [f"Built in {build_seconds / 60:.1f} minutes.", ""]
    if "import" in results:
        r = results["import"]
        copied = r["history"]
        lines += [
            "Imports, each in a fresh process, the same file into an empty database, into a"
            " database holding only the history of the file's meter points (copied from the"
            f" book: {copied['reading']:,} readings of {copied['meterpoint']:,} meter points)"
            " and into the book (target: at most 1.5x the empty database):",
            "",
            "| file | import | empty database s | its history alone s | the book s |"
            " book / empty | book / history |",
            "|---|---|---|---|---|---|---|",
        ]
        for label, key in (
            (f"{IMPORT_READINGS:,} readings of new meter points", "new"),
            (f"{r['readings']:,} next reads of held meter points", "first"),
        ):
            again = "new again" if key == "new" else "again"
            for kind, name in (("first", key), ("re-import (all held)", again)):
                empty, book = r[f"empty {name}"]["seconds"], r[f"book {name}"]["seconds"]
                # A file of new meter points has no history: the empty database is its.
                history = r.get(f"history {name}", {}).get("seconds")
                lines.append(
                    f"| {label} | {kind} | {empty:.1f} | "
                    + (f"{history:.1f}" if history else "—")
                    + f" | {book:.1f} | {book / empty:.2f}x | "
                    + (f"{book / history:.2f}x" if history else "—")
                    + " |"
                )
        lines.append("")
    if "import-warm" in results:
        r = results["import-warm"]
        history, book = r["history first"]["seconds"], r["book first"]["seconds"]
        lines += [
            f"Another file of {r['readings']:,} next reads into its history alone"
            f" ({r['history']['reading']:,} readings), then into the book with what an import"
            f" reads of it in memory (`pg_prewarm`, {r['prewarm']['gigabytes']} GB in"
            f" {r['prewarm']['seconds']} s): {history:.1f} s and {book:.1f} s, book / history"
            f" {book / history:.2f}x.",
            "",
        ]
    if "pages" in results:
        lines += [
            "Pages, ms over 50 requests (target: p99 under 100 ms):",
            "",
            "| page | p50 | p99 |",
            "|---|---|---|",
        ]
        lines += [
            f"| {name} | {ms['p50']} | {ms['p99']}{' **over**' if ms['p99'] >= 100 else ''} |"
            for name, ms in results["pages"].items()
        ]
        lines.append("")
    if "load" in results:
        lines += load_table("Load, the book as built and measured so far", results["load"])
    if "warm" in results:
        warmed = results["warm"]["prewarm"]
        lines += load_table(
            f"Load again after reading the reading table and the pages' indexes into memory "
            f"(`pg_prewarm`, {warmed['gigabytes']} GB in {warmed['seconds']} s)",
            results["warm"]["load"],
        )
    if "during" in results:
        r = results["during"]
        lines += [
            f"Reads during an import: the three pages in turn at 2 clients for 60 s, alone and"
            f" while {r['readings']:,} readings import through the API on a Celery worker "
            f"({r['import seconds']} s from upload to imported; {r['stored']:,} stored; "
            "target: p99 at most 2x):",
            "",
            "| page | alone p50 / p99 ms | during p50 / p99 ms | p99 ratio | errors |",
            "|---|---|---|---|---|",
        ]
        for name, alone in r["alone"].items():
            during = r["during"].get(name)
            if not during:
                continue
            lines.append(
                f"| {name} | {alone['p50']:.0f} / {alone['p99']:.0f} | {during['p50']:.0f} / "
                f"{during['p99']:.0f} | {during['p99'] / alone['p99']:.2f}x | "
                f"{alone['failures'] + during['failures']} |"
            )
        lines.append("")
    if "parallel" in results:
        lines += [
            f"Parallel imports: {PARALLEL_FILES} files of {PARALLEL_READINGS:,} readings of "
            "the same meter points, queued at once:",
            "",
            "| workers | seconds | readings/s | statuses | stored / expected | duplicates |",
            "|---|---|---|---|---|---|",
        ]
        for key, r in results["parallel"].items():
            lines.append(
                f"| {key.split()[0]} | {r['seconds']} | {r['readings per second']:,} | "
                f"{', '.join(r['statuses'])} | {r['stored']:,} / {r['expected']:,} | "
                f"{r['duplicates']} |"
            )
        lines.append("")
    if "disk" in results:
        r = results["disk"]
        lines += [
            f"Disk at {r['readings']:,} readings: the database {r['database bytes'] / 1e9:.1f} GB"
            f" ({r['database bytes'] / r['readings']:.0f} bytes a reading, everything "
            f"included); `VACUUM ANALYZE` of it {r['vacuum analyze seconds']} s.",
            "",
            "| relation | kind | GB | bytes a reading |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {rel['name']} | {rel['kind']} | {rel['bytes'] / 1e9:.2f} | "
            f"{rel['bytes'] / r['readings']:.0f} |"
            for rel in r["relations"]
        ]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    global LOAD_SECONDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default=os.environ.get("SCALE") or "100M")
    parser.add_argument("--only", default="import,pages,load,warm,import-warm,during,parallel,disk")
    parser.add_argument("--load-seconds", type=int, default=60)
    args = parser.parse_args()
    LOAD_SECONDS = args.load_seconds
    OUT.mkdir(parents=True, exist_ok=True)
    parts = args.only.split(",")
    if {"load", "warm", "during"} & set(parts) and not LOCUST.exists():
        raise SystemExit(f"{LOCUST} is missing: make bench-scale installs it")
    build = Build(readings=parse_scale(args.scale), admin_url=ADMIN_URL)
    started = time.perf_counter()
    built_before = build.exists(build.name) and build.finished(build.name)
    url = build.run()
    build_seconds = None if built_before else time.perf_counter() - started
    # A reused book is brought up to the code's schema, as an upgrade would be: timed,
    # as a migration's cost at this size is worth knowing.
    migrating = time.perf_counter()
    applied = sh([PY, "manage.py", "migrate", "-v1"], {"DATABASE_URL": url}).count("Applying")
    say(f"{applied} migration(s) applied in {time.perf_counter() - migrating:.1f} s")
    measures = {
        "import": measure_import,
        "pages": measure_pages,
        "load": measure_load,
        "warm": measure_warm_load,
        "import-warm": measure_warm_import,
        "during": measure_during_import,
        "parallel": measure_parallel,
        "disk": measure_disk,
    }
    results: dict = {}
    for part in parts:
        say(f"measuring {part}")
        results[part] = measures[part](url)
        (OUT / "scale-results.json").write_text(json.dumps(results, indent=1, default=str))
    text = report(args.scale.upper(), build_seconds, results)
    (OUT / "scale-results.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
