"""Identification (精确识别), exit (脱贫) and return (返贫): the event-sourced workflow of a household's status."""
