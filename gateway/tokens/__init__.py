"""Tokens (令牌): password login, refresh rotation with family revocation on reuse, client credentials, logout, JWKS."""
