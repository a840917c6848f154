"""Monitoring rounds (监测, DOMAIN.md §2.17) and visit frequency (§3.3)."""
