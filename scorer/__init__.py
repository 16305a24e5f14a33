"""The Faust scorer app (arrives with the scorer issue)."""
