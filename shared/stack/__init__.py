"""The local stack: a real Kafka broker (KRaft) and a MongoDB-wire server (FerretDB/SQLite).

Installs what is missing on a bare machine (Kafka jars from Maven Central, FerretDB built with
Go), starts both on loopback, creates the product's topics, and stops them again. Used by the
README's commands, by the test fixtures and by developers (``python -m shared.stack``).
"""

from shared.stack.errors import StackError
from shared.stack.settings import StackSettings
from shared.stack.stack import Stack

__all__ = ["Stack", "StackError", "StackSettings"]
