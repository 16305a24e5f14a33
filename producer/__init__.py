"""The transaction producer: the fraud simulator, files of events, and sending both to Kafka."""
