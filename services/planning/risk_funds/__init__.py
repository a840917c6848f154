"""Project risk funds (项目风险金, DOMAIN.md §5.12): contributions, force-majeure events and payouts per village."""
