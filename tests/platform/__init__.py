"""Tests of what every process shares: errors, operations, migrations, the import rules."""
