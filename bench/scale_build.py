"""Build a PostgreSQL database of a national book of readings, set-wise by SQL.

Usage: python bench/scale_build.py [--scale 100M] [--admin-url URL]
Prints the built database's DATABASE_URL on its last line.

The shape (for a scale of N readings): N/20 meter points, 30% of them with a meter
exchange (a second meter takes the register chains over), 1 to 3 registers (the
register sets of bench/generate.py), reads monthly, bi-monthly or quarterly for 1 to 23
reads per register (a customer's time with the supplier), 1 meter point in 1,000 read
monthly for the full 10 years (120 reads a register); 2% of reads resent the next
month with another value (superseded), 0.5% withdrawn (a W superseding them), 1%
failed by the collector (J0022 F) and 0.5% flagged (J0045 F, J0332 05), each with an
exception, and 1% with a supplier-rule exception, older ones mostly resolved; about
25,000 readings a file, from 12 senders, one file per sender a month at least.

Built in its own database, ``<name>_building``, one step per transaction, every step
recorded in the database it built: an interrupted build resumes at the first step not
recorded. Secondary indexes and constraints are dropped for the load and rebuilt
after it (each a step). Only a finished build is renamed to ``<name>``, so nothing
measures a half-built database. The disk is checked before anything is written.
"""

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# What a built database takes on disk per reading, everything included (tables, indexes,
# exceptions and their history): 308 bytes measured at 106M readings (2026-12-03,
# with the covering current-reading index of migration 0008), with room (HEADROOM) for
# the write-ahead log and the index builds' sort files.
BYTES_PER_READING = 310
HEADROOM = 1.3
MONTHS = 120  # December 2016 to November 2026
FIRST_MONTH = "2016-12-01"
SENDERS = 12
READINGS_PER_FILE = 25_000
# Bump when the shape changes: a database built by another version is rebuilt.
SHAPE_VERSION = "1"

TABLES = (
    "meter_readings_meterpoint",
    "meter_readings_meter",
    "meter_readings_reading",
    "meter_readings_readingexception",
    "meter_readings_historicalreadingexception",
    "meter_readings_meterpointreadstate",
)


def parse_scale(text: str) -> int:
    """'100M', '10m', '1M', '250k' or a plain number of readings."""
    text = text.strip().upper().replace("_", "")
    factor = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if factor > 1 else text
    if not number.isdigit() or int(number) * factor < 10_000:
        raise SystemExit(f"SCALE must be a number of readings of 10k or more, not {text!r}")
    return int(number) * factor


def scale_label(readings: int) -> str:
    if readings % 1_000_000 == 0:
        return f"{readings // 1_000_000}m"
    return f"{readings // 1_000}k"


def database_url(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Build:
    """One database's build: its steps, each recorded when done."""

    def __init__(self, *, readings: int, admin_url: str) -> None:
        self.readings = readings
        self.admin_url = admin_url
        self.name = f"d0010_scale_{scale_label(readings)}"
        self.building = f"{self.name}_building"
        self.url = database_url(admin_url, self.building)
        self.meter_points = max(1, readings // 20)
        # Files a sender sends a month, so that a file carries about 25,000 readings.
        self.files_per_month = max(1, round(readings / MONTHS / SENDERS / READINGS_PER_FILE))

    # -- the database and its record of steps ------------------------------------------

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.admin_url, autocommit=True)

    def exists(self, name: str) -> bool:
        with self.admin() as connection:
            return bool(
                connection.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", [name]
                ).fetchone()
            )

    def finished(self, name: str) -> bool:
        try:
            with psycopg.connect(database_url(self.admin_url, name)) as connection:
                row = connection.execute(
                    "SELECT 1 FROM bench_scale_step WHERE step = 'finished' AND shape = %s",
                    [SHAPE_VERSION],
                ).fetchone()
        except psycopg.Error:
            return False
        return row is not None

    def connect(self) -> psycopg.Connection:
        connection = psycopg.connect(self.url)
        connection.execute("SET maintenance_work_mem = '1GB'")
        connection.execute("SET work_mem = '256MB'")
        connection.execute("SET synchronous_commit = off")
        connection.commit()
        return connection

    def done_steps(self) -> set[str]:
        with psycopg.connect(self.url) as connection:
            return {row[0] for row in connection.execute("SELECT step FROM bench_scale_step")}

    def step(self, name: str, statements: list[str], done: set[str]) -> None:
        """Run ``statements`` in one transaction with the record that they ran."""
        if name in done:
            return
        started = time.perf_counter()
        with self.connect() as connection:
            for statement in statements:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO bench_scale_step (step, shape, seconds) VALUES (%s, %s, %s)",
                [name, SHAPE_VERSION, round(time.perf_counter() - started, 1)],
            )
        done.add(name)
        say(f"{name}: {time.perf_counter() - started:.1f} s")

    # -- the build ---------------------------------------------------------------------

    def run(self) -> str:
        if self.exists(self.name) and self.finished(self.name):
            say(f"{self.name} is built already: reused")
            return database_url(self.admin_url, self.name)
        if self.exists(self.name):  # built by another shape, or never finished
            self.drop(self.name)
        if self.exists(self.building) and not self.resumable():
            self.drop(self.building)
        if not self.exists(self.building):
            self.check_disk()
            self.create()
        else:
            say(f"resuming {self.building}")
        started = time.perf_counter()
        done = self.done_steps()
        self.step("standing data", self.standing_data_sql(), done)
        self.load_months(done)
        for name, statement in self.saved_definitions():
            self.step(f"rebuild {name}", [statement], done)
        self.step("derived", self.derived_sql(), done)
        self.step(
            "reference checks on",
            [f"ALTER TABLE {table} ENABLE TRIGGER USER" for table in TABLES],
            done,
        )
        if "finished" not in done:
            with psycopg.connect(self.url, autocommit=True) as connection:
                connection.execute("VACUUM ANALYZE")
        self.step("finished", [], done)
        say(f"built in {time.perf_counter() - started:.0f} s (this run)")
        with self.admin() as connection:
            connection.execute(f"ALTER DATABASE {self.building} RENAME TO {self.name}")
        return database_url(self.admin_url, self.name)

    def drop(self, name: str) -> None:
        say(f"dropping {name}")
        with self.admin() as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def resumable(self) -> bool:
        try:
            with psycopg.connect(self.url) as connection:
                row = connection.execute(
                    "SELECT count(*) FROM bench_scale_step WHERE shape = %s AND step = 'schema'",
                    [SHAPE_VERSION],
                ).fetchone()
        except psycopg.Error:
            return False
        return bool(row and row[0])

    def needed_bytes(self) -> int:
        return int(self.readings * BYTES_PER_READING * HEADROOM)

    def check_disk(self) -> None:
        """Refuse, before writing anything, a scale the database's disk cannot hold."""
        with self.admin() as connection:
            directory = connection.execute("SHOW data_directory").fetchone()[0]
        free = shutil.disk_usage(directory).free
        needed = self.needed_bytes()
        say(
            f"{self.readings:,} readings need about {needed / 1e9:.1f} GB; "
            f"{free / 1e9:.1f} GB free under {directory}"
        )
        if free < needed:
            raise SystemExit(
                f"Not enough disk for SCALE={scale_label(self.readings).upper()}: "
                f"{needed / 1e9:.1f} GB needed, {free / 1e9:.1f} GB free under {directory}. "
                "Nothing was written; choose a smaller SCALE or free some space."
            )

    def create(self) -> None:
        say(f"creating {self.building}")
        with self.admin() as connection:
            connection.execute(f"CREATE DATABASE {self.building}")
        environment = {**os.environ, "DATABASE_URL": self.url}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=environment, check=True
        )
        with self.connect() as connection:
            connection.execute(
                "CREATE TABLE bench_scale_step (step text PRIMARY KEY, shape text NOT NULL,"
                " seconds numeric, done_at timestamptz NOT NULL DEFAULT now())"
            )
            connection.execute(
                "CREATE TABLE bench_scale_definition (position serial, name text, statement text)"
            )
            self.strip_for_loading(connection)
            connection.execute(
                "INSERT INTO bench_scale_step (step, shape, seconds) VALUES ('schema', %s, 0)",
                [SHAPE_VERSION],
            )

    def strip_for_loading(self, connection: psycopg.Connection) -> None:
        """Save, then drop, every index and key the load would maintain row by row."""
        tables = ", ".join(f"'{table}'::regclass" for table in TABLES)
        # Foreign keys into or out of the tables first, then keys, then plain indexes;
        # rebuilt in the opposite order.
        foreign = connection.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            f" WHERE contype = 'f' AND (conrelid IN ({tables}) OR confrelid IN ({tables}))"
        ).fetchall()
        keys = connection.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            f" WHERE contype IN ('p', 'u') AND conrelid IN ({tables})"
            " ORDER BY contype, conname"
        ).fetchall()
        indexes = connection.execute(
            "SELECT indrelid::regclass::text, indexrelid::regclass::text,"
            " pg_get_indexdef(indexrelid) FROM pg_index"
            f" WHERE indrelid IN ({tables}) AND indexrelid NOT IN"
            " (SELECT conindid FROM pg_constraint WHERE conindid <> 0)"
        ).fetchall()
        rebuild = [
            (name, f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
            for table, name, definition in keys
        ]
        rebuild += [(name, definition) for _, name, definition in indexes]
        rebuild += [
            (name, f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
            for table, name, definition in foreign
        ]
        for name, statement in rebuild:
            connection.execute(
                "INSERT INTO bench_scale_definition (name, statement) VALUES (%s, %s)",
                [name, statement],
            )
        for table, name, _ in foreign:
            connection.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for _, name, _ in indexes:
            connection.execute(f"DROP INDEX {name}")
        for table, name, _ in keys:
            connection.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        # The reference checks (statement-level triggers, decision record 7) would
        # check every loaded row: the load is consistent by construction.
        for table in TABLES:
            connection.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")

    def saved_definitions(self) -> list[tuple[str, str]]:
        with psycopg.connect(self.url) as connection:
            return connection.execute(
                "SELECT name, statement FROM bench_scale_definition ORDER BY position"
            ).fetchall()

    # -- the data ------------------------------------------------------------------------

    def standing_data_sql(self) -> list[str]:
        meter_points = self.meter_points
        files = MONTHS * SENDERS * self.files_per_month
        return [
            # h(i, salt): a well-mixed non-negative integer (PostgreSQL's own hash).
            "CREATE FUNCTION bench_h(i bigint, salt bigint) RETURNS bigint"
            " LANGUAGE sql IMMUTABLE PARALLEL SAFE"
            " RETURN abs(hashint8extended(i, salt))",
            # The MPAN core's check digit (MRA MAP): weights over its first 12 digits.
            "CREATE FUNCTION bench_check_digit(body text) RETURNS text"
            " LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN"
            " ((substr(body,1,1)::int*3 + substr(body,2,1)::int*5 + substr(body,3,1)::int*7"
            " + substr(body,4,1)::int*13 + substr(body,5,1)::int*17"
            " + substr(body,6,1)::int*19 + substr(body,7,1)::int*23"
            " + substr(body,8,1)::int*29 + substr(body,9,1)::int*31"
            " + substr(body,10,1)::int*37 + substr(body,11,1)::int*41"
            " + substr(body,12,1)::int*43) % 11 % 10)::text",
            f"""INSERT INTO meter_readings_meterpoint
                (id, mpan_core, distributor_id, check_digit_valid, is_amsid)
            SELECT i, body || bench_check_digit(body), left(body, 2), true, false
            FROM generate_series(1, {meter_points}) i,
                 LATERAL (SELECT lpad((10 + i % 14)::text, 2, '0')
                                 || lpad(i::text, 10, '0') AS body) b""",
            # Meter 2i-1 at every meter point; 2i where the meter was exchanged.
            f"""INSERT INTO meter_readings_meter
                (id, serial_number, meter_point_id, register_digits)
            SELECT 2 * i - j, 'K' || lpad((2 * i - j)::text, 9, '0'), i,
                   CASE WHEN bench_h(i, 7) % 10 = 0 THEN 6 END
            FROM generate_series(1, {meter_points}) i, generate_series(0, 1) j
            WHERE j = 1 OR bench_h(i, 1) % 10 < 3""",
            # One register chain per meter point and register: its reads' cadence and span.
            f"""CREATE TABLE bench_scale_chain AS
            SELECT row_number() OVER () AS chain_id, i AS meter_point_id,
                   2 * i - 1 AS first_meter_id,
                   CASE WHEN bench_h(i, 1) % 10 < 3 THEN 2 * i ELSE 2 * i - 1 END
                       AS second_meter_id,
                   register_id, interval_months, reads,
                   (bench_h(i, 5) % (121 - (reads - 1) * interval_months)) AS start_month,
                   1 + bench_h(i, 6) % GREATEST(reads - 1, 1) AS exchange_at,
                   (bench_h(i * 7 + r, 8) % 90000)::numeric AS base_value,
                   (2 + bench_h(i * 7 + r, 9) % 30)::numeric AS daily_advance,
                   (bench_h(i, 10) % {SENDERS}) AS sender,
                   (bench_h(i, 11) % {self.files_per_month}) AS file_bucket
            FROM generate_series(1, {meter_points}) i,
                 LATERAL (SELECT CASE WHEN i % 1000 = 1 THEN 1
                                      ELSE (ARRAY[1, 2, 3, 3])[1 + bench_h(i, 3) % 4] END
                                     AS interval_months,
                                 CASE WHEN i % 1000 = 1 THEN 120
                                      ELSE 1 + bench_h(i, 4) % 23 END AS reads) c,
                 LATERAL unnest((ARRAY[ARRAY['S', '', ''], ARRAY['01', '02', ''],
                                       ARRAY['DY', 'NT', ''], ARRAY['TO', '', ''],
                                       ARRAY['A1', '', ''], ARRAY['01', '02', '03']])
                                [1 + bench_h(i, 2) % 6:1 + bench_h(i, 2) % 6][1:3])
                     WITH ORDINALITY AS registers(register_id, r)
            WHERE register_id <> ''""",
            # Files: one per sender, month and bucket, received four weeks into the month.
            f"""INSERT INTO meter_readings_flowfile
                (id, filename, size_bytes, sha256, status, received_at, finished_at, strict,
                 failure_reason, stored_file, task_id, attempts, file_identifier, flow_version,
                 from_role_code, from_participant_id, to_role_code, to_participant_id,
                 file_created_at, test_data_flag, is_test, trailer_group_count,
                 trailer_flow_count, trailer_checksum, file_completed_at, line_count,
                 group_count, meter_point_count, reading_count, readings_imported,
                 readings_duplicate, readings_superseding, error_count, warning_count)
            SELECT f, format('DC%s_%s_%s.uff', lpad((sender + 1)::text, 2, '0'),
                             to_char(month_start, 'YYYYMM'), bucket + 1),
                   1500000, encode(sha256(f::text::bytea), 'hex'), 'IMPORTED',
                   month_start + interval '27 days' + bucket * interval '1 hour',
                   month_start + interval '27 days' + bucket * interval '1 hour'
                       + interval '40 seconds',
                   false, '', '', '', 1, lpad(f::text, 10, '0'), '002', 'D',
                   'DC' || lpad((sender + 1)::text, 2, '0'), 'X', 'SUPP',
                   month_start + interval '26 days', '', false, 0, 0, '',
                   month_start + interval '26 days', 0, 0, 0, 0, 0, 0, 0, 0, 0
            FROM generate_series(1, {files}) f,
                 LATERAL (SELECT (f - 1) / ({SENDERS} * {self.files_per_month}) AS month,
                                 ((f - 1) / {self.files_per_month}) % {SENDERS} AS sender,
                                 (f - 1) % {self.files_per_month} AS bucket) k,
                 LATERAL (SELECT timestamptz '{FIRST_MONTH}' + month * interval '1 month'
                                     AS month_start) m""",
            # A few warnings a file, as a real book's files carry.
            f"""INSERT INTO meter_readings_importfinding
                (flow_file_id, line_number, severity, code, field, message)
            SELECT f, 10 + n * 1000, 'WARNING',
                   (ARRAY['READING_TYPE_UNEXPECTED', 'WITHDRAWAL_OF_UNKNOWN_READING',
                          'TRAILER_CHECKSUM_MISMATCH'])[1 + bench_h(f * 3 + n, 12) % 3],
                   'J0171', 'generated by bench/scale_build.py'
            FROM generate_series(1, {files}) f, generate_series(0, 2) n""",
            "CREATE INDEX ON bench_scale_chain (start_month)",
        ]

    def month_sql(self, month: int, stride: int) -> list[str]:
        """One month's readings, its resends and withdrawals (in next month's files) and
        its exceptions: one scan of the chains, one statement."""
        last_month = month == MONTHS - 1
        resent = "(r.h % 50 = 0)"
        withdrawn = "(r.h % 200 = 1)"
        later = "false" if last_month else f"({resent} OR {withdrawn})"
        value = (
            "round(((r.base_value + r.daily_advance * (r.read_at::date - date '2016-12-01'))"
            " % 1000000)::numeric, 1)"
        )
        reading_columns = """(id, meter_id, flow_file_id, line_number, register_id, read_at,
            value, reading_type, bsc_validation_status, reading_flag, reading_method,
            md_reset_at, md_reset_count, validation_reason_code, validation_status,
            is_superseded, supersedes_id)"""
        return [f"""WITH r AS MATERIALIZED (
                SELECT c.*, k, h, {month} * {stride} + 2 * c.chain_id AS id,
                       CASE WHEN k < c.exchange_at THEN c.first_meter_id
                            ELSE c.second_meter_id END AS meter_id,
                       timestamptz '{FIRST_MONTH}' + {month} * interval '1 month'
                           + (h % 25) * interval '1 day' AS read_at,
                       1 + ({month} * {SENDERS} + c.sender) * {self.files_per_month}
                           + c.file_bucket AS flow_file_id
                FROM bench_scale_chain c,
                     LATERAL (SELECT ({month} - c.start_month) / c.interval_months AS k,
                                     bench_h(c.chain_id * 1000 + {month}, 13) AS h) x
                WHERE c.start_month <= {month}
                  AND ({month} - c.start_month) % c.interval_months = 0
                  AND ({month} - c.start_month) / c.interval_months < c.reads
            ), originals AS (
                INSERT INTO meter_readings_reading {reading_columns}
                SELECT r.id, r.meter_id, r.flow_file_id, 2 + 2 * r.chain_id, r.register_id,
                       r.read_at, {value},
                       (ARRAY['R', 'R', 'R', 'R', 'R', 'R', 'R', 'R', 'R', 'R', 'R', 'R',
                              'A', 'C', 'C', 'D', 'D', 'F', 'I', 'S'])[1 + r.h / 7 % 20],
                       CASE WHEN r.h % 100 = 3 THEN 'F' ELSE 'V' END,
                       CASE WHEN r.h % 200 = 5 THEN false ELSE true END,
                       CASE WHEN r.h % 3 = 0 THEN 'P' ELSE 'N' END, NULL, NULL,
                       CASE WHEN r.h % 200 = 5 THEN '05' ELSE '' END,
                       CASE WHEN r.h % 200 = 5 THEN false END,
                       {later}, NULL
                FROM r
            ), resends AS (
                INSERT INTO meter_readings_reading {reading_columns}
                SELECT r.id + {stride} + 1, r.meter_id,
                       r.flow_file_id + {SENDERS} * {self.files_per_month},
                       3 + 2 * r.chain_id, r.register_id, r.read_at,
                       CASE WHEN {withdrawn} THEN {value} ELSE {value} + 1 END,
                       CASE WHEN {withdrawn} THEN 'W' ELSE 'R' END, 'V', true, 'N',
                       NULL, NULL, '', NULL, false, r.id
                FROM r WHERE {later}
            )
            INSERT INTO meter_readings_readingexception
                (id, reading_id, rule, reason_code, detail, status, note, raised_at,
                 status_changed_at, meter_point_id, meter_id, register_id, read_at, sender)
            SELECT r.id, r.id, e.rule, e.reason, 'generated by bench/scale_build.py',
                   CASE WHEN {month} >= {MONTHS - 6} OR r.h % 7 = 0 THEN
                            (ARRAY['OPEN', 'OPEN', 'ACKNOWLEDGED'])[1 + r.h % 3]
                        ELSE (ARRAY['RESOLVED', 'AUTO_RESOLVED'])[1 + r.h / 11 % 2] END,
                   '', r.read_at + interval '28 days', r.read_at + interval '35 days',
                   r.meter_point_id, r.meter_id, r.register_id, r.read_at,
                   'D/DC' || lpad((r.sender + 1)::text, 2, '0')
            FROM r,
                 LATERAL (SELECT CASE WHEN r.h % 100 = 3 OR r.h % 200 = 5
                                          THEN 'COLLECTOR_FAILED'
                                      WHEN r.h % 300 = 7 THEN 'HIGH_ADVANCE'
                                      WHEN r.h % 300 = 8 THEN 'ZERO_ADVANCE'
                                      ELSE 'NEGATIVE_ADVANCE' END AS rule,
                                 CASE WHEN r.h % 100 = 3 THEN ''
                                      WHEN r.h % 200 = 5 OR r.h % 300 = 7 THEN '05'
                                      WHEN r.h % 300 = 8 THEN '27'
                                      ELSE '03' END AS reason) e
            WHERE r.h % 100 = 3 OR r.h % 200 = 5 OR r.h % 300 IN (7, 8, 9)"""]

    def load_months(self, done: set[str]) -> None:
        """The months' readings, two months at a time (one per core)."""
        pending = [month for month in range(MONTHS) if f"month {month:03d}" not in done]
        with psycopg.connect(self.url) as connection:
            stride = 2 * (
                connection.execute("SELECT max(chain_id) FROM bench_scale_chain").fetchone()[0] + 1
            )
        lock = threading.Lock()
        failures: list[BaseException] = []

        def worker() -> None:
            while True:
                with lock:
                    if not pending or failures:
                        return
                    month = pending.pop(0)
                try:
                    self.step(f"month {month:03d}", self.month_sql(month, stride), done)
                except BaseException as error:  # reported below, after the other worker
                    failures.append(error)
                    return

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]

    def derived_sql(self) -> list[str]:
        return [
            # Each file's counts, from what it carried.
            """UPDATE meter_readings_flowfile f
               SET readings_imported = c.readings, reading_count = c.readings,
                   readings_superseding = c.superseding,
                   line_count = c.readings * 2 + 2, group_count = c.readings * 2
               FROM (SELECT flow_file_id, count(*) AS readings,
                            count(supersedes_id) AS superseding
                     FROM meter_readings_reading GROUP BY flow_file_id) c
               WHERE c.flow_file_id = f.id""",
            # When each meter point was last read (valid actual), for the stale-read report.
            """INSERT INTO meter_readings_meterpointreadstate (meter_point_id, last_actual_read_at)
               SELECT p.id, s.last_read
               FROM meter_readings_meterpoint p
               LEFT JOIN (SELECT m.meter_point_id, max(r.read_at) AS last_read
                          FROM meter_readings_reading r
                          JOIN meter_readings_meter m ON m.id = r.meter_id
                          WHERE NOT r.is_superseded AND r.reading_type NOT IN ('D', 'W')
                            AND r.bsc_validation_status <> 'F' AND r.reading_flag
                          GROUP BY m.meter_point_id) s ON s.meter_point_id = p.id""",
            # Each exception's history: raised, and the change that resolved it.
            """INSERT INTO meter_readings_historicalreadingexception
                (id, rule, reason_code, detail, status, note, raised_at, status_changed_at,
                 register_id, read_at, sender, history_date, history_change_reason,
                 history_type, history_user_id, meter_id, meter_point_id, reading_id)
               SELECT id, rule, reason_code, detail, 'OPEN', note, raised_at, raised_at,
                      register_id, read_at, sender, raised_at, 'raised by the checks', '+',
                      NULL::integer, meter_id, meter_point_id, reading_id
               FROM meter_readings_readingexception
               UNION ALL
               SELECT id, rule, reason_code, detail, status, note, raised_at,
                      status_changed_at, register_id, read_at, sender, status_changed_at,
                      'changed', '~', NULL, meter_id, meter_point_id, reading_id
               FROM meter_readings_readingexception WHERE status <> 'OPEN'""",
            """SELECT setval(pg_get_serial_sequence(t, 'id'), (SELECT max(id) FROM """
            """meter_readings_reading))
               FROM (VALUES ('meter_readings_reading')) v(t)""",
            *[
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" GREATEST((SELECT max(id) FROM {table}), 1))"
                for table in (
                    "meter_readings_meterpoint",
                    "meter_readings_meter",
                    "meter_readings_flowfile",
                    "meter_readings_readingexception",
                )
            ],
            "DROP TABLE bench_scale_chain",
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default=os.environ.get("SCALE") or "100M")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    args = parser.parse_args()
    build = Build(readings=parse_scale(args.scale), admin_url=args.admin_url)
    print(build.run())


if __name__ == "__main__":
    main()
