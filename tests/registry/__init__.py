"""Tests of the registry service, by feature: pure domain rules and routes."""
