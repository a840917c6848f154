"""Bulk registration (批量导入) of households identified elsewhere: an NDJSON file, all or nothing."""
