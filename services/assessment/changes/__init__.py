"""The assessment's change feed (变更订阅, issue #15): runs and results, gapless, in commit order, with tombstones."""
