"""The data plane: Kafka ingestion, lake stages, validation with quarantine, the Spark session. No Dagster here."""
