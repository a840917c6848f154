"""Code lists (代码表) of planning: every planning code a client sees, with its zh-CN and English labels."""
