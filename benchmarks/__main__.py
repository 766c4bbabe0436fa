"""
``python -m benchmarks [--only tick|ingest] [--windows N] [--observations N]``: the tick benchmark
at 10,000 windows and at N (default 100,000); the KPI ingestion benchmark at 100,000 observations
and at N (default 1,000,000).
"""
import argparse

from benchmarks import bootstrap, drop_database

SMALLEST = 10_000
SMALLEST_OBSERVATIONS = 100_000


def parse_args():
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("tick", "ingest"), help="run one benchmark (default: both)")
    parser.add_argument("--windows", type=int, default=100_000,
                        help="largest number of windows measured (default 100000)")
    parser.add_argument("--observations", type=int, default=1_000_000,
                        help="largest number of KPI observations ingested (default 1000000)")
    return parser.parse_args()


def main():
    args = parse_args()
    bootstrap()
    try:
        # pylint: disable=import-outside-toplevel  # models need django.setup()
        if args.only in (None, "tick"):
            from benchmarks import tick
            tick.run(sorted({min(SMALLEST, args.windows), args.windows}))
        if args.only in (None, "ingest"):
            from benchmarks import ingest
            ingest.run(sorted({min(SMALLEST_OBSERVATIONS, args.observations), args.observations}))
    finally:
        drop_database()


if __name__ == "__main__":
    main()
