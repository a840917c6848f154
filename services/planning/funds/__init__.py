"""Funds (资金): allocations, funding lines, the earmark matrix, the ledger and line transfers (DOMAIN.md §5.6-§5.10)."""
