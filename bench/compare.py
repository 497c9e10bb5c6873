"""``make bench-compare REV=...``: the import at a commit against the working tree.

Usage: python bench/compare.py REV [--size N] [--rounds R] [--engines sqlite,postgres]

Checks REV out into a temporary git worktree and, round after round, imports the same
generated file (then again under a new file identifier, every reading held) with REV's
code and with the working tree's, alternating which goes first, each into a fresh
database in a fresh process. These machines' speed drifts from minute to minute: only
back-to-back pairs compare. Prints each run and the median of the paired ratios.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

import psycopg

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed in {cwd}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def fresh_database(tree: Path, engine: str, name: str, scratch: Path) -> str:
    if engine == "sqlite":
        path = scratch / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm", ".import-lock"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            connection.execute(f"CREATE DATABASE {name}")
        url = f"postgres://postgres@127.0.0.1:5432/{name}"
    run([sys.executable, "manage.py", "migrate", "-v0"], tree, {"DATABASE_URL": url})
    return url


def import_once(tree: Path, url: str, path: Path) -> float:
    # The tree's own runner: it puts its own tree first on the path.
    output = run(
        [sys.executable, str(tree / "bench" / "import_once.py"), str(path)],
        tree,
        {"DATABASE_URL": url},
    )
    return float(json.loads(output.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev")
    parser.add_argument("--size", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--engines", default="sqlite,postgres")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="d0010-compare-"))
    old = scratch / "old"
    run(["git", "worktree", "add", "--detach", str(old), args.rev], ROOT)
    try:
        shutil.copy(ROOT / ".env", old / ".env")
        first, second = scratch / "first.uff", scratch / "second.uff"
        generate = [sys.executable, str(ROOT / "bench" / "generate.py"), str(args.size)]
        run([*generate, str(first), "--file-id", "1000000001"], ROOT)
        run([*generate, str(second), "--file-id", "1000000002"], ROOT)
        trees = {"old": old, "new": ROOT}
        results: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for round_number in range(args.rounds):
            order = ("old", "new") if round_number % 2 == 0 else ("new", "old")
            for engine in args.engines.split(","):
                for label in order:
                    tree = trees[label]
                    url = fresh_database(tree, engine, f"d0010_compare_{label}", scratch)
                    imported = import_once(tree, url, first)
                    resent = import_once(tree, url, second)
                    results.setdefault(engine, {}).setdefault(label, []).append((imported, resent))
                    print(
                        f"round {round_number + 1} {engine} {label}: import {imported:.2f} s, "
                        f"re-import {resent:.2f} s",
                        flush=True,
                    )
        print(f"\n{args.size:,} readings, {args.rounds} rounds; new / old, median of pairs:")
        for engine, runs in results.items():
            pairs = list(zip(runs["old"], runs["new"]))
            imports = median(new[0] / old[0] for old, new in pairs)
            resends = median(new[1] / old[1] for old, new in pairs)
            print(
                f"- {engine}: import {imports:.3f}x (old median "
                f"{median(o[0] for o in runs['old']):.2f} s, new "
                f"{median(n[0] for n in runs['new']):.2f} s); re-import {resends:.3f}x"
            )
    finally:
        run(["git", "worktree", "remove", "--force", str(old)], ROOT)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
