"""The phones' incremental download (离线同步): paired households' cards, plans and help records (issue #4)."""
