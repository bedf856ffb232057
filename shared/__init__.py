"""customer-signals common package: event contracts, Kafka and Mongo plumbing, settings, stack."""
