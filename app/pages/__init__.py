"""Landing pages and the opt-in flow."""
