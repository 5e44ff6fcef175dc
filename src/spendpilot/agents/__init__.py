"""Supervisor and sub-agents, their tools, and the models that write their prose."""
