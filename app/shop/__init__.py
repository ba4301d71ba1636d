"""Customers from the shop: signed sale webhooks from Stripe, Shopify and Gumroad, matched to
leads by email address and recorded as sales."""
