"""The ops CLI: `python -m shared.ops …` (console script `crm-ops`).

Commands work against the configured stack (`ConnectionSettings`, `CRM_*` variables):
topics (create, verify), dead letters (list, replay), consumer lag, score export and a full
rescore. The logic lives in small modules here, callable without the CLI; `cli.py` only
parses arguments, shows progress and prints tables. See docs/ops-cli.md.
"""
