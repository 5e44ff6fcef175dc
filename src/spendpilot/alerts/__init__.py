"""Budgets and alerts: budget definitions, the alert rules, exactly-once firing and webhook delivery."""
