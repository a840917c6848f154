"""Snapshot exports of planning (issue #15): plans, projects and the funds ledger, NDJSON or CSV."""
