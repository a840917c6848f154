"""Scoring (考核计分): the reference scorer of one subject by a scheme, with its explanations."""
