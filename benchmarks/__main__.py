"""
``python -m benchmarks [--windows N] [--figure-windows N] [--events N] [--observations N] [--only NAME]``:
the tick benchmark at 10,000 windows and at --windows (default 100,000); the figures benchmark
(with the Activation page and the CSV export) at 10,000, 100,000 and --figure-windows (default
1,000,000, where issue 19 sets its target; sizes up to it); the receiver with --events
completion events (default 10,000); the KPI ingestion at 100,000 observations and at
--observations (default 1,000,000); ``activation_backfill`` at 10,000 and --completions (default
100,000) past completers; the portfolio over --portfolio-definitions definitions (default 2,000)
and --portfolio-windows windows (default 10,000,000, where issue 33 sets its target).
"""
import argparse

from benchmarks import bootstrap, drop_database

SMALLEST = 10_000
SMALLEST_OBSERVATIONS = 100_000


def parse_args():
    """The command line the module docstring describes; the docstring is also the ``--help`` text."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=100_000,
                        help="largest number of windows measured (default 100000)")
    parser.add_argument("--figure-windows", type=int, default=1_000_000,
                        help="largest number of windows of the figures benchmark (default 1000000)")
    parser.add_argument("--events", type=int, default=10_000,
                        help="completion events sent through the receiver (default 10000)")
    parser.add_argument("--observations", type=int, default=1_000_000,
                        help="largest number of KPI observations ingested (default 1000000)")
    parser.add_argument("--completions", type=int, default=100_000,
                        help="largest number of past completers backfilled (default 100000)")
    parser.add_argument("--portfolio-definitions", type=int, default=2_000,
                        help="definitions in the portfolio benchmark (default 2000)")
    parser.add_argument("--portfolio-windows", type=int, default=10_000_000,
                        help="windows in the portfolio benchmark, spread over its definitions (default 10000000)")
    parser.add_argument("--only", choices=("tick", "summary", "receiver", "ingest", "backfill", "portfolio"),
                        help="run one benchmark (default: all)")
    return parser.parse_args()


def main():
    """The chosen benchmarks, against the throwaway database ``bootstrap`` creates, dropped even when one fails."""
    args = parse_args()
    bootstrap()
    try:
        # pylint: disable=import-outside-toplevel  # models need django.setup()
        from benchmarks import backfill, ingest, portfolio, receiver, summary, tick
        if args.only in (None, "tick"):
            tick.run(sorted({min(SMALLEST, args.windows), args.windows}))
        if args.only in (None, "summary"):
            largest = args.figure_windows
            summary.run(sorted({size for size in (SMALLEST, 100_000, largest) if size <= largest}))
        if args.only in (None, "receiver"):
            receiver.run(args.events)
        if args.only in (None, "ingest"):
            ingest.run(sorted({min(SMALLEST_OBSERVATIONS, args.observations), args.observations}))
        if args.only in (None, "backfill"):
            backfill.run(sorted({min(SMALLEST, args.completions), args.completions}))
        if args.only in (None, "portfolio"):
            portfolio.run(args.portfolio_definitions, args.portfolio_windows)
    finally:
        drop_database()


if __name__ == "__main__":
    main()
