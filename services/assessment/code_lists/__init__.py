"""Code lists (代码表) of assessment: every assessment code a client sees, with its zh-CN and English labels."""
