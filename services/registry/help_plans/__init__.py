"""Household help plans (一户一策, DOMAIN.md §4.3): versions, acknowledgement, progress."""
