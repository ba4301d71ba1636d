"""Webhooks: events about leads, signed and delivered to CRMs through the outbox."""
