"""Owner accounts: who may sign in to the admin UI, with argon2 password hashes."""
