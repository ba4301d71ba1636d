"""The owner's web UI under `/admin`: sign-in, sessions, CSRF, and the pages behind them."""
