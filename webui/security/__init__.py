"""Who may use a shared instance: accounts and password hashes, login throttling, sessions (no web framework here)."""
