"""Transactions and labels as columns: bulk decoding of topic values, for the trainer and the backtest."""
