"""Fault scenarios against the real Kafka, Redis and MLflow, judged by an independent reader."""
