"""The local broker is a real Kafka: idempotent keyed produce, ordered per key, consumer groups."""

from __future__ import annotations

import json
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.settings import ConnectionSettings
from shared.topics import SCORES, all_topics
from tests.conftest import unique


async def test_keyed_events_come_back_in_order_per_key(
    connection: ConnectionSettings, new_topic: str
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=connection.kafka_bootstrap_servers,
        enable_idempotence=True,
        acks="all",
    )
    await producer.start()
    customers = [f"cust-{n}" for n in range(6)]
    try:
        batch = []
        for seq in range(50):
            for customer in customers:
                body = json.dumps({"customer": customer, "seq": seq}).encode()
                batch.append(await producer.send(new_topic, body, key=customer.encode()))
        for pending in batch:
            await pending
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        new_topic,
        bootstrap_servers=connection.kafka_bootstrap_servers,
        group_id=unique("test-group"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: dict[str, list[int]] = defaultdict(list)
    partitions_of: dict[str, set[int]] = defaultdict(set)
    try:
        while sum(len(v) for v in seen.values()) < 300:
            records = await consumer.getmany(timeout_ms=5000)
            assert records, "consumer group received nothing within 5 s"
            for tp, messages in records.items():
                for message in messages:
                    assert message.key is not None and message.value is not None
                    event = json.loads(message.value)
                    assert message.key.decode() == event["customer"]
                    seen[event["customer"]].append(event["seq"])
                    partitions_of[event["customer"]].add(tp.partition)
        await consumer.commit()
    finally:
        await consumer.stop()

    assert set(seen) == set(customers)
    for customer in customers:
        assert seen[customer] == list(range(50)), f"{customer} out of order"
        assert len(partitions_of[customer]) == 1, "one key must stay in one partition"


async def _configs(
    admin: AIOKafkaAdminClient, kind: ConfigResourceType, name: str
) -> dict[str, str]:
    described = await admin.describe_configs([ConfigResource(kind, name)])
    resource = described[0].to_object()["resources"][0]
    return {entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]}


async def test_product_topics_exist_with_their_declared_configuration(
    connection: ConnectionSettings,
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=connection.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        assert {t.name for t in all_topics()} <= existing
        for topic in all_topics():
            configs = await _configs(admin, ConfigResourceType.TOPIC, topic.name)
            for key, value in topic.config().items():
                assert configs[key] == value, f"{topic.name}: {key}"
        scores = await _configs(admin, ConfigResourceType.TOPIC, SCORES.name)
        assert scores["cleanup.policy"] == "compact"
    finally:
        await admin.close()


async def test_auto_create_is_off(connection: ConnectionSettings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=connection.kafka_bootstrap_servers)
    await admin.start()
    try:
        broker = await _configs(admin, ConfigResourceType.BROKER, "1")
        assert broker["auto.create.topics.enable"] == "false"
    finally:
        await admin.close()
