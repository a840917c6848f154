"""Public disclosure (村级公示): a village's projects, fund use and beneficiaries as its board shows them (issue #11)."""
