"""The gateway (网关): identity (tokens, users, audit) and the edge (proxy, rate limits, merged OpenAPI)."""
