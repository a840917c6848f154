"""A household moved to another county: the two-step handover (迁出申请 / 迁入确认, issue #15)."""
