"""The trainer and model lifecycle (arrives with the trainer issue)."""
