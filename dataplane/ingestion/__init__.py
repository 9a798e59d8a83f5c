"""Getting events in: Kafka topics and Parquet history into the lake, crash-safe and idempotent."""
