"""Spendpilot: a self-hostable AI-spend copilot."""

__version__ = "0.1.0"
