"""Assessment figures (考核数据, issue #12): planning's per-subject figures of a year, computed by PostgreSQL."""
