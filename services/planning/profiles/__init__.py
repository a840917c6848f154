"""Village profiles (村情, DOMAIN.md §5.2): the declared yearly figures, the registry's beside them, the flags."""
