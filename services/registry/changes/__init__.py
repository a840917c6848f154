"""The province change feed (变更订阅, issue #15): gapless, in commit order, with tombstones."""
