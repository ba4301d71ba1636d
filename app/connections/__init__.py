"""Connections to the owner's other services (a shop, a platform, an email tool): their handle
scope, status and encrypted secrets, the log of what each received, and the shop's sales."""
