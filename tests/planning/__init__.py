"""Tests of the planning service, by feature: pure domain rules and routes (the registry in process, over HTTP)."""
