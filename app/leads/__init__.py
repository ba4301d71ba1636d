"""Leads: the opt-in, the consent ledger, confirmation and unsubscribe."""
