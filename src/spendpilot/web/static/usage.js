/** The usage page: import a usage file with upload progress, and charts of stored spend. */

import * as api from "./api.js";
import { h, clear, moneyShort, compactNumber, number } from "./dom.js";
import { dailySpendChart, modelSpendChart, groupsTable } from "./chart.js";

// Shown until the server's own list of formats (GET /api/usage/formats) arrives.
const FORMATS_TEXT = "CSV, JSON Lines or a provider's usage export.";

export class UsageView {
  constructor() {
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
    this.el = h(
      "section",
      { class: "usage", "aria-labelledby": "usage-title" },
      h("header", { class: "page-head" }, h("h2", { id: "usage-title" }, "Usage"), h("p", { class: "muted" }, "Your organisation's LLM usage: what the agents analyze.")),
      h("div", { class: "usage-grid" }, h("section", { class: "card", "aria-labelledby": "import-title" }, h("h3", { id: "import-title" }, "Import usage data"), form, this.result), h("section", { class: "card card-wide", "aria-labelledby": "spend-title" }, h("h3", { id: "spend-title" }, "Spend over time"), this.summary)),
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

  async show() {
    if (!this.formatsLoaded) {
      this.formatsLoaded = true;
      this.loadFormats();
    }
    this.resizeObserver.observe(this.summary);
    await this.loadSummary();
  }

  hide() {
    this.resizeObserver.disconnect();
  }

  async loadSummary() {
    try {
      const [byDay, byModel] = await Promise.all([api.get("/api/usage/summary?group_by=day"), api.get("/api/usage/summary?group_by=model")]);
      this.byDay = byDay;
      this.byModel = byModel;
      this.renderSummary();
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
      h("h4", {}, "Spend by model"),
      this.modelChart,
      h("details", { class: "data-details" }, h("summary", {}, "Show the numbers"), groupsTable(((this.byModel || {}).groups || []).slice().sort((a, b) => b.cost_usd - a.cost_usd), "Model"), groupsTable(s.groups || [], "Day")),
    );
    this.drawCharts();
  }

  drawCharts() {
    if (!this.dayChart || !this.dayChart.isConnected) return;
    const width = Math.floor(this.summary.clientWidth) || 720;
    if (width === this.drawnWidth && this.dayChart.firstChild) return;
    this.drawnWidth = width;
    clear(this.dayChart).append(dailySpendChart((this.byDay || {}).groups || [], { width, height: width < 500 ? 200 : 240 }));
    clear(this.modelChart).append(modelSpendChart((this.byModel || {}).groups || [], { width }));
  }
}
