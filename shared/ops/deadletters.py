"""Dead-letter counts per DLQ topic and error class, over `shared.dlq.inspect_dead_letters`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.dlq import DeadLetter
from shared.topics import DLQ_SUFFIX, TopicSpec

__all__ = ["DeadLetterCounts", "count_dead_letters", "dlq_topics"]


@dataclass
class DeadLetterCounts:
    """How many dead letters a DLQ topic holds, by `dlq_error_class`, with one sample reason.

    The error class is the stable classification (handler_error, schema_invalid, …, what
    `dlq replay --reason` selects); `dlq_reason` is free text, so one example is kept per class.
    """

    topic: str
    total: int = 0
    by_class: Counter[str] = field(default_factory=Counter)
    example_reason: dict[str, str] = field(default_factory=dict)


def count_dead_letters(topic: str, letters: Iterable[DeadLetter]) -> DeadLetterCounts:
    counts = DeadLetterCounts(topic)
    for letter in letters:
        error_class = letter.error_class or "(none)"
        counts.total += 1
        counts.by_class[error_class] += 1
        # The newest reason of each class: the one most likely to describe the current cause.
        counts.example_reason[error_class] = letter.reason
    return counts


def dlq_topics(registry: Iterable[TopicSpec]) -> list[str]:
    """The dead-letter topics among the registry's topics."""
    return [spec.name for spec in registry if spec.name.endswith(DLQ_SUFFIX)]
