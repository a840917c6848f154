"""Reported deadlines of the yearly update and upload (invariant 20)."""
