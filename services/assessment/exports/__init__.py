"""Snapshot exports of the assessment (issue #15): runs and results with their indicator breakdown, NDJSON or CSV."""
