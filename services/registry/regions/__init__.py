"""Regions (行政区划): the administrative tree, yearly statuses, policy parameters, scale-control quotas, population."""
