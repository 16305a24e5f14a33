"""The transaction producer and simulator (its issue is next: schemas and producer)."""
