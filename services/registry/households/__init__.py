"""Households and members (建档立卡): tables in services/registry/models.py, API here."""
