"""Manual indicator entries (考核人员录入): an assessor's value of a manual metric or score of a manual indicator,
with a written reason, versioned (invariant 44)."""
