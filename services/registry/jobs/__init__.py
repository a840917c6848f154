"""Import and export jobs (导入导出任务, issue #15): work longer than a request, on the registry's queue."""
