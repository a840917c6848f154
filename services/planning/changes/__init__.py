"""The planning change feed (变更订阅, issue #15): plans, projects and ledger entries, gapless, with tombstones."""
