"""Inspections (检查考核, DOMAIN.md §6.3): spot checks with their sample, findings and their evidence, rectification
tasks (限期整改, R11), and the inspection and manual figures a run reads."""
