"""Accounts, passwords, JWT issue/verify, JWKS and the /auth routes."""
