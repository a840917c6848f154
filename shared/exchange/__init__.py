"""Province data exchange (issue #15), shared by every service that holds data: snapshot exports and a gapless
change feed. Pure rules in `feed` and `export` (standard library only: domain modules may import them), the
cursor codec in `cursor`, the feed's SQL (the xid8 gapless rule, the snapshot, the long poll) in `feed_sql`, the
change table's DDL in `feed_ddl` and the streamed export body in `export_http`.

This package module imports nothing, so importing a pure submodule stays pure.
"""
