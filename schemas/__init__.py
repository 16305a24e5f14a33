"""The event contracts of fraudstream (JSON on the wire)."""
