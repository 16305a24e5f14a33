"""What the fraudstream apps share: settings, adapters for Kafka, Redis and MLflow, local infrastructure."""
