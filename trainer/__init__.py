"""The trainer: follows transactions and labels, retrains on a sliding window, gates, registers and announces models."""
