"""``fraudstream bench``: the scorer's throughput, latency, hot-swap stall and memory, measured side by
side in one run against the real local Kafka and Redis (see :mod:`bench.runner`)."""
