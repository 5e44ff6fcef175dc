/** The usage page: import a usage file with upload progress (for roles that may), charts of stored
 * spend that follow live intake (the socket's usage_updated notices; no polling), and a breakdown by
 * model, provider, feature, user, API key or tag. */

import * as api from "./api.js";
import { h, clear, moneyShort, compactNumber, number } from "./dom.js";
import { dailySpendChart, modelSpendChart, groupsTable } from "./chart.js";
import * as profile from "./profile.js";

// Breakdowns the summary offers besides tags (GET /api/usage/tags adds one per tag name).
const BREAKDOWNS = [
  ["model", "Model"],
  ["provider", "Provider"],
  ["feature", "Feature"],
  ["user", "User"],
  ["api_key", "API key"],
];
const UNSET = "(not set)";

// Shown until the server's own list of formats (GET /api/usage/formats) arrives.
const FORMATS_TEXT = "CSV, JSON Lines or a provider's usage export.";
// Live notices come at most once a second per org; refetches are spaced at least this much too.
const REFRESH_GAP_MS = 1000;

export class UsageView {
  constructor({ socket } = {}) {
    this.visible = false;
    this.lastLoad = 0;
    if (socket) socket.addEventListener("usage-updated", () => this.onUsageUpdated());
    this.file = h("input", { type: "file", id: "usage-file", class: "file-input", name: "file", accept: ".csv,.tsv,.jsonl,.ndjson,.json,.txt,.gz,text/csv,text/tab-separated-values,application/json,application/gzip", "aria-describedby": "usage-formats" });
    this.submitButton = h("button", { type: "submit", class: "btn btn-primary", id: "usage-submit" }, "Import");
    this.progress = h("progress", { id: "usage-progress", max: "100", value: "0", hidden: true, "aria-label": "Upload progress" });
    this.progressText = h("span", { class: "muted progress-text" });
    this.result = h("div", { class: "import-result", id: "import-result", role: "status", "aria-live": "polite" });
    const form = h(
      "form",
      { class: "import-form", id: "usage-import" },
      h("label", { for: "usage-file", class: "label" }, "Usage file"),
      (this.formats = h("p", { id: "usage-formats", class: "muted" }, FORMATS_TEXT)),
      h("div", { class: "row wrap" }, this.file, this.submitButton),
      h("div", { class: "row progress-row" }, this.progress, this.progressText),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.upload();
    });

    this.summary = h("div", { class: "summary-body" }, h("p", { class: "muted" }, "Loading usage…"));
    this.breakdown = h("select", { id: "usage-breakdown", class: "input input-inline" }, BREAKDOWNS.map(([value, label]) => h("option", { value }, label)));
    this.breakdown.addEventListener("change", () => this.loadBreakdown());
    this.importCard = h("section", { class: "card", "aria-labelledby": "import-title", id: "import-card" }, h("h3", { id: "import-title" }, "Import usage data"), form, this.result);
    this.readOnly = h("section", { class: "card", id: "import-readonly", hidden: true }, h("h3", {}, "Import usage data"), h("p", { class: "muted" }, "Your role can read the organisation's usage but not import it. An analyst or an admin can."));
    this.el = h(
      "section",
      { class: "usage", "aria-labelledby": "usage-title" },
      h("header", { class: "page-head" }, h("h2", { id: "usage-title" }, "Usage"), h("p", { class: "muted" }, "Your organisation's LLM usage: what the agents analyze.")),
      h("div", { class: "usage-grid" }, this.importCard, this.readOnly, h("section", { class: "card card-wide", "aria-labelledby": "spend-title" }, h("h3", { id: "spend-title" }, "Spend over time"), this.summary)),
    );
    this.resizeObserver = new ResizeObserver(() => this.drawCharts());
  }

  async upload() {
    const file = this.file.files && this.file.files[0];
    clear(this.result);
    if (!file) {
      this.result.append(h("p", { class: "error-text" }, "Choose a file to import first."));
      this.file.focus();
      return;
    }
    this.submitButton.disabled = true;
    this.progress.hidden = false;
    this.progress.value = 0;
    this.progressText.textContent = `Uploading ${file.name}…`;
    try {
      const body = await api.upload("/api/usage/import", file, (fraction) => {
        this.progress.value = Math.round(fraction * 100);
        this.progressText.textContent = fraction < 1 ? `Uploading ${file.name}… ${Math.round(fraction * 100)}%` : "Processing…";
      });
      this.progress.value = 100;
      this.progressText.textContent = "";
      this.showResult(body || {});
      this.loadSummary();
    } catch (err) {
      this.progressText.textContent = "";
      this.result.append(h("p", { class: "error-text", role: "alert" }, `Import failed: ${err.message}`));
    } finally {
      this.submitButton.disabled = false;
      this.progress.hidden = true;
    }
  }

  showResult(body) {
    const rejected = Array.isArray(body.rejected) ? body.rejected : [];
    const imported = Number(body.imported) || 0;
    const duplicates = Number(body.duplicates) || 0;
    this.result.append(
      h(
        "dl",
        { class: "stats stats-small" },
        h("div", { class: "stat" }, h("dt", {}, "Imported"), h("dd", {}, h("span", { class: "stat-value", id: "import-imported" }, number(imported)))),
        h("div", { class: "stat" }, h("dt", {}, "Duplicates"), h("dd", {}, h("span", { class: "stat-value", id: "import-duplicates" }, number(duplicates)))),
        h("div", { class: "stat" }, h("dt", {}, "Rejected"), h("dd", {}, h("span", { class: "stat-value", id: "import-rejected" }, number(body.rejected_count ?? rejected.length)))),
      ),
      body.format ? h("p", { class: "muted" }, `Detected format: ${body.format}`) : null,
      Number(body.skipped) ? h("p", { class: "muted" }, `${number(body.skipped)} records were not LLM usage and were skipped.`) : null,
      Number(body.cost_lines) ? h("p", { class: "muted" }, `${number(body.cost_lines)} billed cost lines.`) : null,
      (body.unpriced_models || []).length ? h("p", { class: "warning-text", id: "import-unpriced" }, `Not priced (imported at $0): ${body.unpriced_models.join(", ")}.`) : null,
      (body.unknown_columns || []).length ? h("p", { class: "warning-text", id: "import-unknown-columns" }, `Columns not read: ${body.unknown_columns.join(", ")}.`) : null,
      body.stated_vs_computed ? h("p", { class: "muted", id: "import-stated" }, `The file states $${body.stated_vs_computed.stated_usd} for ${number(body.stated_vs_computed.rows)} rows; priced from the tables: $${body.stated_vs_computed.computed_usd} (difference $${body.stated_vs_computed.difference_usd}).`) : null,
      ...(body.notes || []).map((note) => h("p", { class: "muted import-note" }, note)),
    );
    if (rejected.length) {
      this.result.append(
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "data-table rejected-table" },
            h("caption", {}, "Rejected rows (the rest of the file was imported)"),
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Line"), h("th", { scope: "col" }, "Reason"))),
            h("tbody", {}, rejected.map((r) => h("tr", { dataset: { line: String(r.line) } }, h("td", {}, String(r.line)), h("td", {}, String(r.reason))))),
          ),
        ),
      );
    }
  }

  async loadFormats() {
    try {
      const formats = await api.get("/api/usage/formats");
      if (Array.isArray(formats) && formats.length) this.formats.textContent = `Accepted: ${formats.map((f) => f.label).join("; ")}.`;
    } catch {
      // The generic hint stays; an import still reports what it could not read.
    }
  }

  /** New usage was stored: refresh now if shown (spaced out), else on the next show(). */
  onUsageUpdated() {
    if (!this.visible) return;
    if (this.refreshTimer) return;
    const wait = Math.max(0, this.lastLoad + REFRESH_GAP_MS - Date.now());
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      if (this.visible) this.loadSummary();
    }, wait);
  }

  async show() {
    this.visible = true;
    // The server refuses an import to a role without the right; the page does not offer it either.
    await profile.refresh().catch(() => null);
    const mayImport = profile.can("usage.import");
    this.importCard.hidden = !mayImport;
    this.readOnly.hidden = mayImport;
    if (mayImport && !this.formatsLoaded) {
      this.formatsLoaded = true;
      this.loadFormats();
    }
    this.resizeObserver.observe(this.summary);
    this.loadTags();
    await this.loadSummary();
  }

  async loadTags() {
    try {
      const tags = await api.get("/api/usage/tags");
      const known = new Set(Array.from(this.breakdown.options, (o) => o.value));
      for (const tag of Array.isArray(tags) ? tags : []) {
        if (!known.has(`tag:${tag}`)) this.breakdown.append(h("option", { value: `tag:${tag}` }, `Tag: ${tag}`));
      }
    } catch {
      // Without the tag list the fixed breakdowns still work.
    }
  }

  async loadBreakdown() {
    const groupBy = this.breakdown.value;
    try {
      this.byBreakdown = groupBy === "model" ? this.byModel : await api.get(`/api/usage/summary?group_by=${encodeURIComponent(groupBy)}`);
    } catch (err) {
      if (this.modelChart) clear(this.modelChart).append(h("p", { class: "error-text" }, `Could not load the breakdown: ${err.message}`));
      return;
    }
    this.drawnWidth = null;
    this.renderBreakdown();
  }

  breakdownLabel() {
    return this.breakdown.options[this.breakdown.selectedIndex].textContent;
  }

  renderBreakdown() {
    if (!this.modelChart) return;
    const groups = ((this.byBreakdown || {}).groups || []).map((g) => ({ ...g, key: g.key === "" ? UNSET : g.key }));
    this.breakdownTitle.textContent = `Spend by ${this.breakdownLabel().toLowerCase()}`;
    clear(this.breakdownTable).append(groupsTable(groups.slice().sort((a, b) => b.cost_usd - a.cost_usd), this.breakdownLabel()));
    if (this.byBreakdown && this.byBreakdown.truncated) this.breakdownTable.append(h("p", { class: "muted" }, `The ${groups.length} biggest of ${this.byBreakdown.group_count}.`));
    this.drawCharts();
  }

  hide() {
    this.visible = false;
    clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    this.resizeObserver.disconnect();
  }

  async loadSummary() {
    this.lastLoad = Date.now();
    try {
      const [byDay, byModel] = await Promise.all([api.get("/api/usage/summary?group_by=day"), api.get("/api/usage/summary?group_by=model")]);
      this.byDay = byDay;
      this.byModel = byModel;
      this.byBreakdown = byModel;
      this.renderSummary();
      if (this.breakdown.value !== "model") await this.loadBreakdown();
    } catch (err) {
      clear(this.summary).append(h("p", { class: "error-text" }, `Could not load usage: ${err.message}`), h("button", { type: "button", class: "btn", onclick: () => this.loadSummary() }, "Try again"));
    }
  }

  renderSummary() {
    const s = this.byDay || {};
    clear(this.summary);
    if (!Number(s.total_requests)) {
      this.summary.append(h("div", { class: "empty-state" }, h("p", {}, h("strong", {}, "No usage data yet.")), h("p", { class: "muted" }, "Import a usage file to see your spend over time and by model; then ask the chat to analyze it.")));
      return;
    }
    const from = String(s.from || "").slice(0, 10);
    const to = String(s.to || "").slice(0, 10);
    this.dayChart = h("div", { class: "chart-box", id: "chart-days" });
    this.modelChart = h("div", { class: "chart-box", id: "chart-models" });
    this.summary.append(
      h(
        "dl",
        { class: "stats" },
        h("div", { class: "stat" }, h("dt", {}, "Total spend"), h("dd", {}, h("span", { class: "stat-value", id: "usage-total" }, moneyShort(s.total_usd)), from ? h("span", { class: "stat-note" }, `${from} – ${to}`) : null)),
        h("div", { class: "stat" }, h("dt", {}, "Requests"), h("dd", {}, h("span", { class: "stat-value" }, compactNumber(s.total_requests)))),
        h("div", { class: "stat" }, h("dt", {}, "Models"), h("dd", {}, h("span", { class: "stat-value" }, String(((this.byModel || {}).groups || []).length)))),
      ),
      h("h4", {}, "Spend per day"),
      this.dayChart,
      h("div", { class: "row wrap breakdown-head" }, (this.breakdownTitle = h("h4", { id: "breakdown-title" }, "Spend by model")), h("label", { for: "usage-breakdown", class: "label-inline" }, "Break down by"), this.breakdown),
      this.modelChart,
      h("details", { class: "data-details" }, h("summary", {}, "Show the numbers"), (this.breakdownTable = h("div", { id: "breakdown-table" })), groupsTable(s.groups || [], "Day")),
    );
    this.renderBreakdown();
  }

  drawCharts() {
    if (!this.dayChart || !this.dayChart.isConnected) return;
    const width = Math.floor(this.summary.clientWidth) || 720;
    if (width === this.drawnWidth && this.dayChart.firstChild) return;
    this.drawnWidth = width;
    clear(this.dayChart).append(dailySpendChart((this.byDay || {}).groups || [], { width, height: width < 500 ? 200 : 240 }));
    const groups = ((this.byBreakdown || {}).groups || []).map((g) => ({ ...g, key: g.key === "" ? UNSET : g.key }));
    clear(this.modelChart).append(modelSpendChart(groups, { width, title: `Spend by ${this.breakdownLabel().toLowerCase()}` }));
  }
}
