"""Delivery: the transactional outbox, the worker that drains it, and the mail backends."""
