"""The interaction service's HTTP API."""
