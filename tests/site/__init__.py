"""The Daily Ledger fixture news site (see server.py)."""
