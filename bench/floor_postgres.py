"""The PostgreSQL floor: a bare COPY of the same rows into a minimal schema.

Parses each line with a plain split, COPYs MPANs, meters and readings (with the same
unique keys) in one transaction, and nothing else. Usage:
python bench/floor_postgres.py FILE CONNINFO   (e.g. "host=127.0.0.1 user=postgres dbname=x")
"""

import sys
import time

import psycopg

SCHEMA = """
DROP TABLE IF EXISTS floor_reading, floor_meter, floor_mpan;
CREATE TABLE floor_mpan (id bigint PRIMARY KEY, core text NOT NULL UNIQUE);
CREATE TABLE floor_meter (id bigint PRIMARY KEY, mpan_id bigint NOT NULL REFERENCES floor_mpan,
                          serial text NOT NULL, UNIQUE (mpan_id, serial));
CREATE TABLE floor_reading (meter_id bigint NOT NULL REFERENCES floor_meter,
                            register text NOT NULL, read_at text NOT NULL,
                            value numeric NOT NULL, UNIQUE (meter_id, register, read_at));
"""


def run(path: str, conninfo: str) -> int:
    """COPY ``path``'s rows into fresh tables; returns the readings copied."""
    mpans: dict[str, int] = {}
    meters: dict[tuple[int, str], int] = {}
    readings = []
    mpan_id = meter_id = 0
    with open(path, encoding="ascii") as lines:
        for line in lines:
            fields = line.rstrip("\r\n").split("|")
            if fields[0] == "030":
                readings.append((meter_id, fields[1], fields[2], fields[3]))
            elif fields[0] == "026":
                mpan_id = mpans.setdefault(fields[1], len(mpans) + 1)
            elif fields[0] == "028":
                meter_id = meters.setdefault((mpan_id, fields[1]), len(meters) + 1)
    with psycopg.connect(conninfo) as connection, connection.cursor() as cursor:
        cursor.execute(SCHEMA)
        with cursor.copy("COPY floor_mpan (id, core) FROM STDIN") as copy:
            for core, mpan_id in mpans.items():
                copy.write_row((mpan_id, core))
        with cursor.copy("COPY floor_meter (id, mpan_id, serial) FROM STDIN") as copy:
            for (mpan_id, serial), meter_id in meters.items():
                copy.write_row((meter_id, mpan_id, serial))
        with cursor.copy(
            "COPY floor_reading (meter_id, register, read_at, value) FROM STDIN"
        ) as copy:
            for row in readings:
                copy.write_row(row)
        cursor.execute("DROP TABLE floor_reading, floor_meter, floor_mpan")
    return len(readings)


if __name__ == "__main__":
    started = time.perf_counter()
    copied = run(sys.argv[1], sys.argv[2])
    elapsed = time.perf_counter() - started
    print(f"{copied} readings in {elapsed:.2f} s: {copied / elapsed:,.0f} readings/s")
