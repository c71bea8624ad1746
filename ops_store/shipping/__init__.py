"""Carrier interface and the fake carrier."""
