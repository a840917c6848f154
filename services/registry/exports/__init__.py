"""Snapshot exports of the registry (issue #15): households with members and latest income, NDJSON or CSV."""
