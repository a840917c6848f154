"""Village plans (脱贫规划、发展规划、年度计划, DOMAIN.md §5.1): targets, approval, amendments, actuals, the exit
checklist (一低七有, §5.4)."""
