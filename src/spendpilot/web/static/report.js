/** The final report (SPEC §7): headline figures and one card per recommendation. */

import { h, humanize, money, moneyShort, number } from "./dom.js";

function formatValue(key, value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") {
    if (/pct|percent/i.test(key)) return `${number(value)}%`;
    if (/share|rate$/i.test(key) && Math.abs(value) <= 1) return `${number(value * 100)}%`;
    if (/usd|cost|spend|saving|price/i.test(key)) return money(value);
    if (/ratio/i.test(key)) return `${number(value)}×`;
    return number(value);
  }
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== "object" || v === null)) return value.map((v) => formatValue(key, v)).join(", ");
    return `${value.length} items`;
  }
  if (typeof value === "object") {
    return Object.entries(value)
      .slice(0, 6)
      .map(([k, v]) => `${label(k)}: ${formatValue(k, v)}`)
      .join(" · ");
  }
  return String(value);
}

const UNIT_SUFFIXES = [
  [/_usd$/, ""],
  [/_pct$/, ""],
  [/_ms$/, " (ms)"],
  [/_s$/, " (s)"],
  [/_per_mtok$/, " per M tokens"],
];

/** "failed_cost_usd" -> "Failed cost": the value already shows the unit. */
function label(key) {
  let text = String(key);
  for (const [pattern, replacement] of UNIT_SUFFIXES) text = text.replace(pattern, replacement);
  return humanize(text);
}

const EVIDENCE_SHOWN = 4;

function evidenceRows(entries) {
  return entries.map(([key, value]) => h("div", {}, h("dt", {}, label(key)), h("dd", {}, formatValue(key, value))));
}

/** The first few facts, the rest behind a disclosure so cards stay scannable. */
function evidenceList(evidence) {
  if (!evidence || typeof evidence !== "object") return null;
  const entries = Object.entries(evidence).filter(([, v]) => v !== null && v !== undefined && v !== "");
  if (!entries.length) return null;
  const shown = entries.slice(0, EVIDENCE_SHOWN);
  const rest = entries.slice(EVIDENCE_SHOWN);
  return h(
    "div",
    { class: "rec-evidence" },
    h("h5", {}, "Evidence"),
    h("dl", { class: "evidence" }, evidenceRows(shown)),
    rest.length ? h("details", { class: "evidence-more" }, h("summary", {}, `${rest.length} more figure${rest.length === 1 ? "" : "s"}`), h("dl", { class: "evidence" }, evidenceRows(rest))) : null,
  );
}

function card(rec, rank) {
  const savings = Number(rec.monthly_savings_usd);
  const actions = Array.isArray(rec.actions) ? rec.actions : [];
  const assumptions = Array.isArray(rec.assumptions) ? rec.assumptions : [];
  const titleId = `rec-${rank}-${Math.random().toString(36).slice(2, 8)}`;
  return h(
    "article",
    { class: "rec-card", "aria-labelledby": titleId, dataset: { kind: rec.kind || "" } },
    h(
      "header",
      { class: "rec-head" },
      h("span", { class: "rec-rank", "aria-hidden": "true" }, String(rank)),
      h("div", { class: "rec-title" }, h("h4", { id: titleId }, rec.title || humanize(rec.kind || "Recommendation")), rec.kind ? h("span", { class: "chip" }, humanize(rec.kind)) : null),
      h(
        "p",
        { class: "rec-saving" },
        h("span", { class: "rec-saving-value" }, Number.isFinite(savings) ? money(savings) : "—"),
        h("span", { class: "rec-saving-unit" }, " / month"),
      ),
    ),
    evidenceList(rec.evidence),
    actions.length
      ? h("div", { class: "rec-actions" }, h("h5", {}, "Actions"), h("ol", {}, actions.map((a) => h("li", {}, typeof a === "string" ? a : formatValue("", a)))))
      : null,
    assumptions.length
      ? h("details", { class: "rec-assumptions" }, h("summary", {}, `Assumptions (${assumptions.length})`), h("ul", {}, assumptions.map((a) => h("li", {}, typeof a === "string" ? a : formatValue("", a)))))
      : null,
  );
}

function stat(label, value, note) {
  return h("div", { class: "stat" }, h("dt", {}, label), h("dd", {}, h("span", { class: "stat-value" }, value), note ? h("span", { class: "stat-note" }, note) : null));
}

/** Headline figures of a report: monthly spend, potential savings, spend in the period. */
export function renderFigures(report) {
  if (!report || typeof report !== "object") return null;
  const spend = report.spend || {};
  const period = report.period || {};
  if (spend.monthly_usd === undefined && report.total_monthly_savings_usd === undefined) return null;
  const pct = Number(report.savings_pct);
  const periodText = period.from && period.to ? `${String(period.from).slice(0, 10)} – ${String(period.to).slice(0, 10)}` : null;
  return h(
    "dl",
    { class: "stats report-figures", "aria-label": "Report figures" },
    stat("Monthly spend", moneyShort(spend.monthly_usd), "run-rate, normalised to 30 days"),
    stat("Savings per month", moneyShort(report.total_monthly_savings_usd), Number.isFinite(pct) ? `${number(pct)}% of monthly spend` : null),
    stat("Spend in period", moneyShort(spend.total_usd), periodText ? `${periodText} (${number(period.days ?? 0)} days)` : null),
  );
}

/** Recommendation cards, and the caveats when the written report does not already list them. */
export function renderRecommendations(report, { withCaveats = true } = {}) {
  if (!report || typeof report !== "object") return null;
  const recs = Array.isArray(report.recommendations) ? report.recommendations : [];
  const caveats = withCaveats && Array.isArray(report.caveats) ? report.caveats : [];
  if (!recs.length && !caveats.length) return null;
  return h(
    "section",
    { class: "report", "aria-label": "Recommendations" },
    recs.length
      ? h("div", { class: "recs" }, h("h4", { class: "recs-title" }, `Recommendations in detail (${recs.length})`), h("div", { class: "rec-grid" }, recs.map((rec, i) => card(rec, i + 1))))
      : null,
    caveats.length ? h("details", { class: "caveats" }, h("summary", {}, `Caveats (${caveats.length})`), h("ul", {}, caveats.map((c) => h("li", {}, String(c))))) : null,
  );
}
