"""Idempotent API writes: the `Idempotency-Key` header, its stored first response and replays."""
