"""Write a valid D0010 002 file of N register readings, streaming (any size, flat memory).

Usage: python bench/generate.py N OUT [--seed S] [--file-id ID]

Every MPAN core carries a valid check digit, reading types are D0010 codes, meter ids fit
CHAR(10), and the ZPT group and flow counts are exact, so a clean import reports nothing.
"""

import argparse
import random

WEIGHTS = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)
REGISTER_SETS = (("S",), ("01", "02"), ("DY", "NT"), ("TO",), ("A1",), ("01", "02", "03"))
READING_TYPES = "ACDFIMPQRSTUVWXYZ"  # J0171 without 'O' (not allowed in D0010)


def mpan_core(rng: random.Random) -> str:
    body = f"{rng.randrange(10, 24):02d}{rng.randrange(10**10):010d}"
    return body + str(sum(int(d) * w for d, w in zip(body, WEIGHTS)) % 11 % 10)


def write_file(count: int, path: str, *, seed: int = 1, file_id: str | None = None) -> None:
    """Write ``count`` readings to ``path``."""
    rng = random.Random(seed)
    # Drawn even when an identifier is given, so the readings do not depend on it.
    generated_id = f"{rng.randrange(10**10):010d}"
    file_id = file_id or generated_id
    groups = flows = readings = 0
    with open(path, "w", newline="\n", buffering=1024 * 1024) as out:
        out.write(f"ZHV|{file_id}|D0010002|D|UDMS|X|MRCY|20260301120000||||OPER|\n")
        while readings < count:
            out.write(f"026|{mpan_core(rng)}|V|\n")
            groups += 1
            flows += 1
            for _ in range(rng.choice((1, 1, 1, 2))):
                if readings >= count:
                    break
                serial = f"{rng.choice('DFLSK')}{rng.randrange(10, 99)}{rng.choice('ABCDE')} "
                serial += f"{rng.randrange(10**5):05d}"
                out.write(f"028|{serial}|{rng.choice(READING_TYPES)}|\n")
                groups += 1
                date = f"202602{1 + rng.randrange(28):02d}000000"
                for register in rng.choice(REGISTER_SETS):
                    if readings >= count:
                        break
                    value = f"{rng.randrange(100000)}.{rng.randrange(10)}"
                    out.write(f"030|{register}|{date}|{value}|||T|N|\n")
                    groups += 1
                    readings += 1
        out.write(f"ZPT|{file_id}|{groups}||{flows}|20260301120500|\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--file-id", default=None)
    args = parser.parse_args()
    write_file(args.count, args.out, seed=args.seed, file_id=args.file_id)


if __name__ == "__main__":
    main()
