"""Households and members (建档立卡户): the record, its derived fields and flags, the card, lists and statistics."""
