"""Helping units, cadres, village assignments and pairings (结对帮扶, DOMAIN.md §3)."""
