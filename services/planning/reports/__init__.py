"""Reports (报表): budget execution from the ledger, project progress, overdue milestones — JSON or CSV (issue #11)."""
