"""The page a share link opens: the question, the answer and the report's figures, rendered on the server.

No script, no inline style (the CSP allows neither), no cookie; raw HTML in the answer is shown as text
(markdown-it with `html` off), and table alignment becomes a class instead of a style attribute.
"""

from __future__ import annotations

from html import escape

from markdown_it import MarkdownIt

from spendpilot.sharing.export import scope_text, usd
from spendpilot.sharing.links import SharedReport

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_html(text: str) -> str:
    tokens = _MARKDOWN.parse(text)
    for token in tokens:
        style = token.attrs.pop("style", None) if token.attrs else None
        if isinstance(style, str) and "text-align:" in style:
            token.attrSet("class", "align-" + style.split("text-align:", 1)[1].strip().rstrip(";"))
        if token.type == "inline":
            for child in token.children or []:
                if child.type == "link_open":
                    child.attrSet("rel", "noopener noreferrer nofollow")
    return _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})


def _stat(label: str, value: str, note: str = "") -> str:
    note_html = f'<span class="note">{escape(note)}</span>' if note else ""
    return f"<div><dt>{escape(label)}</dt><dd><span class=\"value\">{escape(value)}</span>{note_html}</dd></div>"


def _recommendations(report: dict) -> str:
    recs = report.get("recommendations") or []
    if not recs:
        return ""
    rows = "".join(f"<tr><td>{rank}</td><td>{escape(str(rec.get('title', '')))}</td>"
                   f"<td class=\"align-right\">{escape(usd(rec.get('monthly_savings_usd')))}</td></tr>"
                   for rank, rec in enumerate(recs, 1))
    return ("<section aria-labelledby=\"recs\"><h2 id=\"recs\">Recommendations</h2><table><thead><tr><th>#</th>"
            "<th>Recommendation</th><th class=\"align-right\">Saving a month</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></section>")


def render_page(shared: SharedReport) -> str:
    report = shared.report
    period, spend = report.get("period") or {}, report.get("spend") or {}
    pct = report.get("savings_pct")
    figures = "".join([
        _stat("Spend in period", usd(spend.get("total_usd")),
              f"{period.get('from')} to {period.get('to')} ({period.get('days', 0)} days)"),
        _stat("Monthly spend", usd(spend.get("monthly_usd")), "run-rate, normalised to 30 days"),
        _stat("Savings per month", usd(report.get("total_monthly_savings_usd")),
              f"{pct:.1f}% of monthly spend" if isinstance(pct, (int, float)) else ""),
        _stat("Scope", scope_text(report.get("scope"))),
    ])
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>Shared report · Spendpilot</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/share.css">
</head>
<body>
<main class="shared">
<header><p class="brand">Spendpilot · shared report</p>
<p class="shared-at">Shared on {escape((shared.created_at or "")[:10])}</p></header>
<section class="question" aria-labelledby="question"><h1 id="question">{escape(shared.question)}</h1></section>
<dl class="figures" aria-label="Report figures">{figures}</dl>
<article class="answer">{markdown_html(shared.final_response)}</article>
{_recommendations(report)}
<footer><p>A read-only copy of one answer, shared by its author. Figures come from the organisation's own usage
data as it stood when the answer was written.</p></footer>
</main>
</body>
</html>
"""


def not_found_page() -> str:
    return """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow"><title>Link not found · Spendpilot</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/static/share.css"></head>
<body><main class="shared"><h1>This link does not work</h1>
<p>It was revoked by the person who shared it, or it never existed.</p></main></body>
</html>
"""
