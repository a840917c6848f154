"""Yearly exit targets (年度减贫任务): decomposed county → township → village, with progress and shortfall flags."""
