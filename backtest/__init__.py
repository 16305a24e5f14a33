"""The backtest: replay a time range of the historical topics through the production feature code and
one or several registered model versions, join the labels, and report the metrics side by side.

It reads the transactions and labels topics without a consumer group (partitions assigned, nothing
committed), replays the events in event-time order into an isolated feature store (in memory, or a
Redis namespace of its own), scores the range with every model, evaluates with
:mod:`fraudcore.evaluation` and writes a JSON file of the numbers (byte-identical for the same
topics, range and models) and a self-contained HTML report with plots. Entry point:
:func:`backtest.run.run_backtest`.
"""
