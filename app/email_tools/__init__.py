"""Confirmed leads sent to the owner's email tool (Mailchimp, Kit, Brevo) through the outbox:
what is sent for whom, each provider's client, and the outbox handler that runs them."""
