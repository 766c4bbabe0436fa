"""
``python -m benchmarks [--windows N] [--events N] [--only tick|summary|receiver]``: the tick benchmark
at 10,000 windows and at N (default 100,000); the figures benchmark at 10,000, 100,000 and N (sizes
up to N); the receiver with --events completion events (default 10,000).
"""
import argparse

from benchmarks import bootstrap, drop_database

SMALLEST = 10_000


def parse_args():
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--windows", type=int, default=100_000,
                        help="largest number of windows measured (default 100000)")
    parser.add_argument("--events", type=int, default=10_000,
                        help="completion events sent through the receiver (default 10000)")
    parser.add_argument("--only", choices=("tick", "summary", "receiver"), help="run one benchmark (default: all)")
    return parser.parse_args()


def main():
    args = parse_args()
    sizes = sorted({min(SMALLEST, args.windows), args.windows})
    bootstrap()
    try:
        # pylint: disable=import-outside-toplevel  # models need django.setup()
        from benchmarks import receiver, summary, tick
        if args.only in (None, "tick"):
            tick.run(sizes)
        if args.only in (None, "summary"):
            summary.run(sorted({size for size in (SMALLEST, 100_000, args.windows) if size <= args.windows}))
        if args.only in (None, "receiver"):
            receiver.run(args.events)
    finally:
        drop_database()


if __name__ == "__main__":
    main()
