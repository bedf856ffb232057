"""`python -m bench <benchmark> [--quick]` — run benchmarks against the local stack."""

from __future__ import annotations

import argparse
import asyncio

from bench import customer, ingest, messaging, scoring


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("benchmark", choices=["messaging", "scoring", "ingest", "customer"])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument(
        "--customers",
        type=int,
        default=None,
        help="scoring: distinct customers; customer: import rows",
    )
    args = parser.parse_args()
    if args.benchmark == "messaging":
        asyncio.run(messaging.run(args.messages or (5_000 if args.quick else 100_000)))
    elif args.benchmark == "scoring":
        events = args.messages or (2_000 if args.quick else 20_000)
        asyncio.run(scoring.run(events, args.customers or max(1, events // 10)))
    elif args.benchmark == "ingest":
        events = args.messages or (5_000 if args.quick else 20_000)
        asyncio.run(ingest.run(events, requests=500 if args.quick else 2_000))
    elif args.benchmark == "customer":
        requests = args.messages or (500 if args.quick else 3_000)
        asyncio.run(customer.run(requests, rows=args.customers or (500 if args.quick else 5_000)))


if __name__ == "__main__":
    main()
