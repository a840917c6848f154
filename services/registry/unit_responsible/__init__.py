"""The login of a helping unit's responsible person (帮扶单位责任人, issue #13 item 10)."""
