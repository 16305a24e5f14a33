"""The local infrastructure launcher: a real Kafka broker, ``redis-server`` and the embedded MLflow store."""
