"""``python -m benchmarks [--windows N]``: the tick benchmark at 10,000 windows and at N (default 100,000)."""
import argparse

from benchmarks import bootstrap, drop_database

SMALLEST = 10_000


def parse_args():
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--windows", type=int, default=100_000,
                        help="largest number of windows measured (default 100000)")
    return parser.parse_args()


def main():
    args = parse_args()
    sizes = sorted({min(SMALLEST, args.windows), args.windows})
    bootstrap()
    try:
        from benchmarks import tick  # pylint: disable=import-outside-toplevel  # models need django.setup()
        tick.run(sizes)
    finally:
        drop_database()


if __name__ == "__main__":
    main()
