"""Help records (帮扶记录卡) from mobile apps: offline-first posting, versions, signatures, photos (issue #4)."""
