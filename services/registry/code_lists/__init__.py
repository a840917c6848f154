"""Code lists (代码表): every code a client sees, with its zh-CN and English labels (`GET /code-lists`)."""
