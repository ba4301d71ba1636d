"""API keys: issuing, hashing, scopes and the request dependency."""
