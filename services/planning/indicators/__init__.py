"""The indicator catalogue (指标库, DOMAIN.md §5.3): shipped as data, and the indicators a county adds."""
