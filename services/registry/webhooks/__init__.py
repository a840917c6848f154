"""Signed webhooks on the change feed (变更推送, issue #15): subscriptions, signed deliveries, retries, replay."""
