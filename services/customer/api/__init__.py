"""HTTP adapter of the customer service."""
