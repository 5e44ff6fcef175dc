/** Inline SVG charts drawn from /api/usage/summary groups; no chart library. */

import { s, h, money, compactNumber } from "./dom.js";

const PALETTE_SIZE = 8;

function niceMax(value) {
  if (!(value > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * exp >= value) return step * exp;
  }
  return 10 * exp;
}

function shortMoney(value) {
  if (value >= 1000) return `$${compactNumber(value)}`;
  if (value >= 10) return `$${Math.round(value)}`;
  return `$${Number(value.toFixed(2))}`;
}

function formatDay(key) {
  const d = new Date(`${String(key).slice(0, 10)}T00:00:00Z`);
  return Number.isFinite(d.getTime()) ? d.toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" }) : String(key);
}

/** Daily spend as vertical bars. groups: [{key: "YYYY-MM-DD", cost_usd, requests}]. */
export function dailySpendChart(groups, { width = 720, height = 240, title = "Spend per day" } = {}) {
  const data = [...groups].sort((a, b) => String(a.key).localeCompare(String(b.key)));
  const margin = { top: 12, right: 8, bottom: 28, left: 56 };
  const w = Math.max(280, width);
  const plotW = w - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const max = niceMax(Math.max(0, ...data.map((d) => Number(d.cost_usd) || 0)));
  const y = (v) => margin.top + plotH - (v / max) * plotH;
  const band = plotW / Math.max(1, data.length);
  const barW = Math.max(1, Math.min(28, band * 0.72));
  const titleId = `chart-${Math.random().toString(36).slice(2, 8)}`;

  const grid = [];
  for (let i = 0; i <= 4; i += 1) {
    const v = (max * i) / 4;
    grid.push(
      s("line", { class: "grid", x1: margin.left, x2: w - margin.right, y1: y(v), y2: y(v) }),
      s("text", { class: "axis-label", x: margin.left - 8, y: y(v) + 4, "text-anchor": "end" }, shortMoney(v)),
    );
  }
  const labelEvery = Math.max(1, Math.ceil(data.length / Math.max(2, Math.floor(plotW / 70))));
  const bars = data.map((d, i) => {
    const v = Number(d.cost_usd) || 0;
    const x = margin.left + i * band + (band - barW) / 2;
    return s(
      "g",
      { class: "bar" },
      s("rect", { class: "series-0", x: x.toFixed(2), y: y(v).toFixed(2), width: barW.toFixed(2), height: Math.max(0, margin.top + plotH - y(v)).toFixed(2), rx: Math.min(3, barW / 3) }),
      s("title", {}, `${formatDay(d.key)}: ${money(v)} · ${compactNumber(d.requests)} requests`),
    );
  });
  const labels = data
    .map((d, i) => (i % labelEvery === 0 ? s("text", { class: "axis-label", x: margin.left + i * band + band / 2, y: height - 8, "text-anchor": "middle" }, formatDay(d.key)) : null))
    .filter(Boolean);

  return s(
    "svg",
    { class: "chart", width: w, height, viewBox: `0 0 ${w} ${height}`, role: "img", "aria-labelledby": titleId },
    s("title", { id: titleId }, `${title}: ${data.length} days, highest ${money(Math.max(0, ...data.map((d) => Number(d.cost_usd) || 0)))}`),
    grid,
    bars,
    s("line", { class: "axis", x1: margin.left, x2: w - margin.right, y1: margin.top + plotH, y2: margin.top + plotH }),
    labels,
  );
}

/** Spend per model as horizontal bars, largest first. */
export function modelSpendChart(groups, { width = 720, title = "Spend by model" } = {}) {
  const data = [...groups].sort((a, b) => (Number(b.cost_usd) || 0) - (Number(a.cost_usd) || 0)).slice(0, 12);
  const rowH = 30;
  const w = Math.max(280, width);
  const labelW = Math.min(200, Math.max(110, w * 0.3));
  const valueW = 86;
  const plotW = w - labelW - valueW - 8;
  const height = data.length * rowH + 4;
  const max = Math.max(1e-9, ...data.map((d) => Number(d.cost_usd) || 0));
  const titleId = `chart-${Math.random().toString(36).slice(2, 8)}`;
  const rows = data.map((d, i) => {
    const v = Number(d.cost_usd) || 0;
    const y = i * rowH + 4;
    const label = String(d.key).length > 26 ? `${String(d.key).slice(0, 25)}…` : String(d.key);
    return s(
      "g",
      { class: "bar" },
      s("text", { class: "axis-label model-label", x: labelW - 8, y: y + rowH / 2, "text-anchor": "end", "dominant-baseline": "middle" }, label),
      s("rect", { class: `series-${i % PALETTE_SIZE}`, x: labelW, y: y + 5, width: Math.max(2, (v / max) * plotW).toFixed(2), height: rowH - 12, rx: 3 }),
      s("text", { class: "value-label", x: labelW + Math.max(2, (v / max) * plotW) + 6, y: y + rowH / 2, "dominant-baseline": "middle" }, money(v)),
      s("title", {}, `${d.key}: ${money(v)} · ${compactNumber(d.requests)} requests`),
    );
  });
  return s("svg", { class: "chart chart-models", width: w, height, viewBox: `0 0 ${w} ${height}`, role: "img", "aria-labelledby": titleId }, s("title", { id: titleId }, `${title}: ${data.length} models`), rows);
}

/** The same numbers as a table, for screen readers and for copying. */
export function groupsTable(groups, keyLabel) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "data-table" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, keyLabel), h("th", { scope: "col", class: "align-right" }, "Spend"), h("th", { scope: "col", class: "align-right" }, "Requests"), h("th", { scope: "col", class: "align-right" }, "Input tokens"), h("th", { scope: "col", class: "align-right" }, "Output tokens"))),
      h(
        "tbody",
        {},
        groups.map((g) =>
          h("tr", {}, h("th", { scope: "row" }, String(g.key)), h("td", { class: "align-right" }, money(g.cost_usd)), h("td", { class: "align-right" }, compactNumber(g.requests)), h("td", { class: "align-right" }, compactNumber(g.input_tokens)), h("td", { class: "align-right" }, compactNumber(g.output_tokens))),
        ),
      ),
    ),
  );
}
