"""The registry audit log (审计日志): entries written with every change, and their read API for county offices."""
