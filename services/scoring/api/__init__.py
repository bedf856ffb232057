"""The scoring service's HTTP read API (REST under /v1/scores)."""
