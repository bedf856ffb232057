"""`python -m shared.demo up|down|status` — the services on the local stack, for the demo."""

from __future__ import annotations

import argparse
import sys

from shared.demo.credentials import DemoCredentials
from shared.demo.processes import SERVICES, ServiceRunner
from shared.stack.errors import StackError
from shared.stack.settings import StackSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.demo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the services (idempotent) and print where they run")
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
            print()
            print(f"Kafka    {stack.bootstrap_servers}")
            print(f"MongoDB  {stack.mongo_url}  (FerretDB)")
            for service in SERVICES:
                print(f"{service.name:<12} {service.url}{service.home_path}")
            print()
            print(f"Log in as {credentials.admin_username} / {credentials.admin_password}")
            print("  (POST /v1/auth/login at the customer service; the token works everywhere)")
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
