"""`python -m shared.demo up|down|status` — the services on the local stack, for the demo."""

from __future__ import annotations

import argparse
import os
import sys

from shared.demo.credentials import DemoCredentials, ensure_demo_accounts
from shared.demo.processes import SERVICES, ServiceRunner
from shared.demo.seed import seed_demo
from shared.stack.errors import StackError
from shared.stack.settings import StackSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.demo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up", help="start the services, seed the demo world (both idempotent), print where"
    )
    up.add_argument(
        "--customers",
        type=int,
        default=int(os.environ.get("CRM_DEMO_CUSTOMERS", "200")),
        help="size of the demo world (default 200, or CRM_DEMO_CUSTOMERS)",
    )
    up.add_argument("--no-seed", action="store_true", help="start the services only")
    commands.add_parser("down", help="stop the services")
    commands.add_parser("status", help="show which services run")
    args = parser.parse_args(argv)

    stack = StackSettings()
    credentials = DemoCredentials.load_or_create(stack.state_dir)
    runner = ServiceRunner(stack, extra_env=credentials.service_env())
    try:
        if args.command == "up":
            started = runner.up()
            print("started " + ", ".join(started) if started else "services already running")
            customer = next(s for s in SERVICES if s.name == "customer")
            ensure_demo_accounts(credentials, customer.url)
            if not args.no_seed:
                report = seed_demo(stack, customers=args.customers)
                print(f"demo world: {report.summary()}")
                for message in report.errors[:5]:
                    print(f"  seeding: {message}", file=sys.stderr)
            print()
            print(f"Kafka    {stack.bootstrap_servers}")
            print(f"MongoDB  {stack.mongo_url}  (FerretDB)")
            for service in SERVICES:
                print(f"{service.name:<12} {service.url}{service.home_path}")
            print()
            print(f"Web console  {customer.url}/console/   (中文 / English)")
            for username, role, password in credentials.accounts():
                print(f"  log in as {username:<7} password {password:<14} ({role})")
            print("  APIs: POST /v1/auth/login at the customer service; the token works everywhere")
            print()
            print("Stop everything with ./scripts/stop-demo")
        elif args.command == "down":
            stopped = runner.down()
            print("stopped " + ", ".join(stopped) if stopped else "no service was running")
        elif args.command == "status":
            running = True
            for service in SERVICES:
                pid = runner.process(service).pid()
                running = running and pid is not None
                state = f"running (pid {pid})" if pid else "stopped"
                print(f"{service.name:<12} {state:<22} {service.url}")
            return 0 if running else 3
    except StackError as error:
        print(error.render(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
