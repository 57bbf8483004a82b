"""Access: API tokens and the roles they carry (who may call the admin API, and for what)."""
