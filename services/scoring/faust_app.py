"""Builds the scorer's `faust.App` from Settings, and nothing else (STYLE.md, faust section)."""

from __future__ import annotations

from pathlib import Path

import faust

from services.scoring.settings import Settings
from services.scoring.tables import ScorerTableManager
from shared.observability import logging_config


def create_faust_app(settings: Settings) -> faust.App:
    """A Faust app configured only from `settings` (broker, store, partitions, web port).

    Broker auto-create is off, so Faust declares its own internal topics (table changelogs)
    itself (`topic_allow_declare`); the product topics already exist (created by ops tooling).
    Standby replicas are off so that the review timer, which walks the local table, only sees
    partitions this worker owns (a standby copy would rescore — and publish — twice). The table
    manager's recovery seeks the stream partitions before resuming them (`SeekFirstRecovery`).
    """
    return faust.App(
        settings.faust_app_id,
        broker=[
            f"kafka://{server.strip()}" for server in settings.kafka_bootstrap_servers.split(",")
        ],
        store=settings.faust_store,
        # One directory per app id: a RocksDB table left by another app (another group and
        # changelog) holds offsets that the new changelog does not have, and Faust refuses it.
        datadir=str(Path(settings.faust_data_dir) / settings.faust_app_id),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_allow_declare=True,
        topic_disable_leader=True,
        table_standby_replicas=0,
        TableManager=ScorerTableManager,
        web_port=settings.faust_web_port,
        web_enabled=True,
        autodiscover=False,
        producer_acks=-1,
        consumer_auto_offset_reset=settings.faust_offset_reset,
        broker_session_timeout=settings.faust_session_timeout_s,
        logging_config=logging_config("scorer"),
    )
