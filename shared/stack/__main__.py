"""`python -m shared.stack up|down|status|logs|reset` — the local Kafka + FerretDB stack."""

from __future__ import annotations

import argparse
import sys

from shared.stack.errors import StackError
from shared.stack.processes import tail
from shared.stack.settings import StackSettings
from shared.stack.stack import Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="install what is missing, start, create topics (idempotent)")
    commands.add_parser("down", help="stop Kafka and FerretDB")
    commands.add_parser("status", help="show what runs where (exit 3 when not all running)")
    logs = commands.add_parser("logs", help="print the tail of a server's log")
    logs.add_argument("server", choices=["kafka", "ferretdb"])
    logs.add_argument("-n", "--lines", type=int, default=50)
    commands.add_parser("reset", help="stop and delete all local state (downloads stay cached)")
    args = parser.parse_args(argv)

    stack = Stack(StackSettings())
    try:
        if args.command == "up":
            report = stack.up()
            for name in report.installed:
                print(f"installed {name}")
            for name in report.started:
                print(f"started {name}")
            if report.topics_created:
                print(f"created {len(report.topics_created)} topics")
            if not report.changed:
                print("already up; nothing changed")
            _print_status(stack)
        elif args.command == "down":
            stopped = stack.down()
            print("stopped " + ", ".join(stopped) if stopped else "nothing was running")
        elif args.command == "status":
            return 0 if _print_status(stack) else 3
        elif args.command == "logs":
            component = stack.kafka if args.server == "kafka" else stack.ferretdb
            print(tail(component.process.log_file, args.lines))
        elif args.command == "reset":
            stack.reset()
            print(f"stopped and removed {stack.settings.state_dir}")
    except StackError as error:
        print(error.render(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _print_status(stack: Stack) -> bool:
    statuses = stack.status()
    for status in statuses:
        state = f"running (pid {status.pid})" if status.running else "stopped"
        print(f"{status.name:<9} {state:<22} {status.address}")
    return all(status.running for status in statuses)


if __name__ == "__main__":
    sys.exit(main())
