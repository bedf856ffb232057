"""The complaint service's HTTP adapter (REST under /v1)."""
