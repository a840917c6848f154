"""Developer and operator commands (`python -m ops.cli …`): run the platform, migrate, seed, keys, tests, lint.

This package may import every process (it starts them, loads their demo data); `shared/` may not.
"""
