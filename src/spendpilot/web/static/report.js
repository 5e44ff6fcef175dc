/** The final report (SPEC §7): headline figures and one card per recommendation. */

import { h, humanize, money, number } from "./dom.js";

function formatValue(key, value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") {
    if (/usd|cost|spend|saving|price/i.test(key)) return money(value);
    if (/pct|percent|ratio|rate|share/i.test(key)) {
      return `${number(Math.abs(value) <= 1 && !/pct|percent/i.test(key) ? value * 100 : value)}%`;
    }
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
      .map(([k, v]) => `${humanize(k)}: ${formatValue(k, v)}`)
      .join(" · ");
  }
  return String(value);
}

function evidenceList(evidence) {
  if (!evidence || typeof evidence !== "object") return null;
  const entries = Object.entries(evidence);
  if (!entries.length) return null;
  return h(
    "dl",
    { class: "evidence" },
    entries.map(([key, value]) => h("div", {}, h("dt", {}, humanize(key)), h("dd", {}, formatValue(key, value)))),
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

/** Report JSON -> element with figures, recommendation cards and caveats. */
export function renderReport(report) {
  if (!report || typeof report !== "object") return null;
  const spend = report.spend || {};
  const period = report.period || {};
  const recs = Array.isArray(report.recommendations) ? report.recommendations : [];
  const caveats = Array.isArray(report.caveats) ? report.caveats : [];
  const pct = Number(report.savings_pct);
  const periodText = period.from && period.to ? `${String(period.from).slice(0, 10)} – ${String(period.to).slice(0, 10)}` : null;

  const figures = h(
    "dl",
    { class: "stats" },
    stat("Monthly spend", money(spend.monthly_usd), periodText ? `${number(period.days ?? "")} days: ${periodText}` : null),
    stat("Potential savings", `${money(report.total_monthly_savings_usd)}`, Number.isFinite(pct) ? `${number(pct)}% of monthly spend` : null),
    stat("Spend in period", money(spend.total_usd), report.data_sufficiency ? `data: ${report.data_sufficiency}` : null),
  );

  return h(
    "section",
    { class: "report", "aria-label": "Report summary" },
    spend.monthly_usd !== undefined || report.total_monthly_savings_usd !== undefined ? figures : null,
    recs.length
      ? h("div", { class: "recs" }, h("h4", { class: "recs-title" }, `Recommendations (${recs.length})`), h("div", { class: "rec-grid" }, recs.map((rec, i) => card(rec, i + 1))))
      : null,
    caveats.length ? h("details", { class: "caveats" }, h("summary", {}, `Caveats (${caveats.length})`), h("ul", {}, caveats.map((c) => h("li", {}, String(c))))) : null,
  );
}
