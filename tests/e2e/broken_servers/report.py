"""The report the fake server answers every run with: shaped as SPEC §7 asks, so only the breakage fails."""

REPORT = {
    "period": {"from": "2026-08-23", "to": "2026-11-21", "days": 90},
    "spend": {"total_usd": 900.0, "monthly_usd": 300.0, "by_model": [{"model": "gpt-4o", "cost_usd": 900.0}]},
    "data_sufficiency": "sufficient",
    "recommendations": [
        {"id": "r1", "title": "Right-size gpt-4o", "kind": "model_right_sizing", "monthly_savings_usd": 60.0,
         "evidence": {"requests": 1200}, "assumptions": ["quality holds"], "actions": ["switch model"]},
        {"id": "r2", "title": "Cache prompt prefixes", "kind": "prompt_caching", "monthly_savings_usd": 30.0,
         "evidence": {"repeated_prefix_tokens": 4000}, "assumptions": ["stable prefix"], "actions": ["enable caching"]},
    ],
    "total_monthly_savings_usd": 90.0,
    "savings_pct": 30.0,
    "caveats": [],
    "scope": {},
    "intent": "cost_analysis",
}
