"""The Faust scorer: transactions in, online features, the champion model, verdicts out; hot-swaps."""
