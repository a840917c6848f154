"""The public notice as villagers see it (公示, DOMAIN.md §2.9)."""
