"""``make bench``: import speed, memory and page times against the floors.

For each size (default 100k, 300k and 1M readings) and each database (SQLite always,
PostgreSQL when one answers on 127.0.0.1:5432): generate a valid file, import it into a
fresh database in a fresh process, import it again under a new file identifier (every
reading already held), run the floor script on the same file, and time the admin pages
on the largest. Repeated runs go in rounds, each round every size in turn. Prints a
Markdown table and writes it to bench/out/results.md.
"""

import argparse
import json
import os
import platform
from statistics import median
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
POSTGRES_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
POSTGRES_DB = "d0010_bench"


def sh(args: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def postgres_available() -> bool:
    try:
        psycopg.connect(POSTGRES_ADMIN, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


def fresh_database(engine: str, size: int) -> str:
    """Create an empty, migrated database; returns its DATABASE_URL."""
    if engine == "sqlite":
        path = OUT / f"bench_{size}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {POSTGRES_DB} WITH (FORCE)")
            connection.execute(f"CREATE DATABASE {POSTGRES_DB}")
        url = f"postgres://postgres@127.0.0.1:5432/{POSTGRES_DB}"
    sh([sys.executable, "manage.py", "migrate", "-v0"], {"DATABASE_URL": url})
    return url


def files_for(size: int) -> tuple[Path, Path]:
    first, again = OUT / f"readings_{size}.uff", OUT / f"readings_{size}_new_id.uff"
    if not first.exists():
        sh([sys.executable, "bench/generate.py", str(size), str(first), "--seed", str(size)])
    if not again.exists():
        sh(
            [
                sys.executable,
                "bench/generate.py",
                str(size),
                str(again),
                "--seed",
                str(size),
                "--file-id",
                "RESEND0001",
            ]
        )
    return first, again


def import_once(url: str, path: Path, *, checks: bool = True) -> dict:
    environment = {"DATABASE_URL": url, "D0010_CHECK_READINGS": "true" if checks else "false"}
    return json.loads(sh([sys.executable, "bench/import_once.py", str(path)], environment))


def floor_seconds(engine: str, path: Path) -> float:
    if engine == "sqlite":
        database = OUT / "floor.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        output = sh([sys.executable, "bench/floor_sqlite.py", str(path), str(database)])
    else:
        conninfo = f"host=127.0.0.1 port=5432 user=postgres dbname={POSTGRES_DB}"
        output = sh([sys.executable, "bench/floor_postgres.py", str(path), conninfo])
    return float(output.split(" in ")[1].split(" s")[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per size and database (median reported)"
    )
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    engines = [e for e in args.engines.split(",") if e != "postgres" or postgres_available()]
    OUT.mkdir(parents=True, exist_ok=True)
    rows, pages = [], {}
    for engine in engines:
        trials: dict[int, list] = {size: [] for size in sizes}
        # Round after round, each running every size in turn: the machine's speed drifts
        # from one minute to the next, and sizes compared (1M against 100k) should be
        # timed together, as an import and its floor are.
        for _ in range(args.repeat):
            for size in sizes:
                first, again = files_for(size)
                # A fresh database each time: the first import must find nothing held.
                # The same import without the reading checks, in the same round: what
                # the checks cost (documentation/VALIDATION.md).
                unchecked = import_once(fresh_database(engine, size), first, checks=False)
                url = fresh_database(engine, size)
                imported = import_once(url, first)
                resent = import_once(url, again)
                assert imported["readings"] == size and resent["duplicates"] == size
                floor = floor_seconds(engine, first)
                trials[size].append((imported, resent, floor, unchecked))
                print(
                    f"{engine} {size}: {imported} resent={resent} floor={floor} "
                    f"unchecked={unchecked}",
                    flush=True,
                )
        # The last database made holds the largest size (sizes run smallest first).
        pages[engine] = json.loads(sh([sys.executable, "bench/pages.py"], {"DATABASE_URL": url}))
        rows.extend((engine, size, trials[size]) for size in sizes)
    lines = [
        f"Machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "",
        f"Each figure is the median of {args.repeat} run(s), each in a fresh database; "
        "the range is the fastest and slowest first import. The ratio is the median of each "
        "run's import time over the floor's, timed in the same run: the machine's speed "
        "drifts from one minute to the next, and a pair timed together shares its state. "
        "For the same reason the runs go in rounds, each round every size in turn, and the "
        "growth from the smallest size to the largest is the median of each round's ratio.",
        "",
        "| database | readings | import s | (range) | readings/s | peak RSS MB | floor s | "
        "ratio | (range) | re-import s (all held) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for engine, size, trials in rows:
        seconds = [imported["seconds"] for imported, *_ in trials]
        import_s = median(seconds)
        floor_s = median(t[2] for t in trials)
        ratios = [t[0]["seconds"] / t[2] for t in trials]
        resent_s = median(t[1]["seconds"] for t in trials)
        rss = max(t[0]["peak_rss_mb"] for t in trials)
        lines.append(
            f"| {engine} | {size:,} | {import_s:.2f} | {min(seconds):.2f}–{max(seconds):.2f} | "
            f"{size / import_s:,.0f} | {rss} | {floor_s:.2f} | {median(ratios):.2f}x | "
            f"{min(ratios):.2f}–{max(ratios):.2f}x | {resent_s:.2f} |"
        )
    lines += [
        "",
        "The reading checks' cost: the same first import with the checks off "
        "(D0010_CHECK_READINGS=false), in the same rounds; the ratio is the median of each "
        "round's (target: at most 1.25x).",
        "",
        "| database | readings | without checks s | with checks s | ratio | (range) |",
        "|---|---|---|---|---|---|",
    ]
    for engine, size, trials in rows:
        checked = [t[0]["seconds"] / t[3]["seconds"] for t in trials]
        lines.append(
            f"| {engine} | {size:,} | {median(t[3]['seconds'] for t in trials):.2f} | "
            f"{median(t[0]['seconds'] for t in trials):.2f} | {median(checked):.2f}x | "
            f"{min(checked):.2f}–{max(checked):.2f}x |"
        )
    lines += ["", "Against the issue's targets:", ""]
    for engine in engines:
        own = {size: trials for name, size, trials in rows if name == engine}
        first = {size: median(t[0]["seconds"] for t in trials) for size, trials in own.items()}
        again = {size: median(t[1]["seconds"] for t in trials) for size, trials in own.items()}
        rss = [t[0]["peak_rss_mb"] for trials in own.values() for t in trials]
        held = ", ".join(f"{size:,}: {again[size] / first[size]:.2f}x" for size in sorted(own))
        lines.append(f"- {engine}: re-import / first import: {held}")
        lines.append(f"- {engine}: peak RSS {min(rss)}–{max(rss)} MB")
        if len(own) > 1:
            small, large = min(own), max(own)
            # Each round's ratio, its sizes timed minutes apart at most; then the median.
            paired = [
                big[0]["seconds"] / little[0]["seconds"]
                for little, big in zip(own[small], own[large])
            ]
            floors = [big[2] / little[2] for little, big in zip(own[small], own[large])]
            lines.append(
                f"- {engine}: {large:,} readings took {median(paired):.1f}x the time of "
                f"{small:,} ({large // small}x the readings; median of each round's ratio, "
                f"range {min(paired):.1f}–{max(paired):.1f}x; medians of all runs: "
                f"{first[large] / first[small]:.1f}x). The floor, in the same rounds: "
                f"{median(floors):.1f}x"
            )
    for engine, timings in pages.items():
        lines += [
            "",
            f"Pages at {max(sizes):,} readings ({engine}), ms over 20 requests:",
            "",
            "| page | median | max |",
            "|---|---|---|",
        ]
        lines += [f"| {name} | {ms['p50']} | {ms['max']} |" for name, ms in timings.items()]
    table = "\n".join(lines)
    (OUT / "results.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
