"""`python -m shared.ops` — the ops CLI (see shared/ops/cli.py and docs/ops-cli.md)."""

from __future__ import annotations

from shared.ops.cli import app


def main() -> None:
    """Entry point of `python -m shared.ops` and of the `crm-ops` console script."""
    app(prog_name="crm-ops")


if __name__ == "__main__":
    main()
