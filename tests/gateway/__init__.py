"""Tests of the gateway: identity, tokens, users, the proxy."""
