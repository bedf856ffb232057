"""Multi-channel interactions and orders, including contact-center ingestion."""
