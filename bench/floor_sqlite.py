"""The SQLite floor: the least a correct importer could do with the same file.

Parses each line with a plain split and inserts MPANs, meters and readings into a minimal
schema with the same unique keys, in one transaction, with nothing else: no validation,
no findings, no duplicate or supersede logic. Usage: python bench/floor_sqlite.py FILE DB
"""

import sqlite3
import sys
import time

SCHEMA = """
CREATE TABLE mpan (id INTEGER PRIMARY KEY, core TEXT NOT NULL UNIQUE);
CREATE TABLE meter (id INTEGER PRIMARY KEY, mpan_id INTEGER NOT NULL REFERENCES mpan(id),
                    serial TEXT NOT NULL, UNIQUE (mpan_id, serial));
CREATE TABLE reading (id INTEGER PRIMARY KEY, meter_id INTEGER NOT NULL REFERENCES meter(id),
                      register TEXT NOT NULL, read_at TEXT NOT NULL, value TEXT NOT NULL,
                      UNIQUE (meter_id, register, read_at));
"""


def run(path: str, database: str) -> int:
    """Import ``path`` into a fresh ``database``; returns the readings inserted."""
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    db.execute("BEGIN")
    mpan_id = meter_id = None
    readings = []
    count = 0
    with open(path, encoding="ascii") as lines:
        for line in lines:
            fields = line.rstrip("\r\n").split("|")
            group = fields[0]
            if group == "030":
                readings.append((meter_id, fields[1], fields[2], fields[3]))
                if len(readings) >= 10000:
                    db.executemany(
                        "INSERT INTO reading (meter_id, register, read_at, value) "
                        "VALUES (?, ?, ?, ?)",
                        readings,
                    )
                    count += len(readings)
                    readings.clear()
            elif group == "026":
                db.execute("INSERT OR IGNORE INTO mpan (core) VALUES (?)", (fields[1],))
                mpan_id = db.execute("SELECT id FROM mpan WHERE core = ?", (fields[1],)).fetchone()[
                    0
                ]
            elif group == "028":
                db.execute(
                    "INSERT OR IGNORE INTO meter (mpan_id, serial) VALUES (?, ?)",
                    (mpan_id, fields[1]),
                )
                meter_id = db.execute(
                    "SELECT id FROM meter WHERE mpan_id = ? AND serial = ?", (mpan_id, fields[1])
                ).fetchone()[0]
    db.executemany(
        "INSERT INTO reading (meter_id, register, read_at, value) VALUES (?, ?, ?, ?)", readings
    )
    count += len(readings)
    db.execute("COMMIT")
    db.close()
    return count


if __name__ == "__main__":
    started = time.perf_counter()
    inserted = run(sys.argv[1], sys.argv[2])
    elapsed = time.perf_counter() - started
    print(f"{inserted} readings in {elapsed:.2f} s: {inserted / elapsed:,.0f} readings/s")
