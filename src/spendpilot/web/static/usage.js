/** The usage page: import a usage file with upload progress, and charts of stored spend that follow live
 * intake (the socket's usage_updated notices; no polling). */

import * as api from "./api.js";
import { h, clear, moneyShort, compactNumber, number } from "./dom.js";
import { dailySpendChart, modelSpendChart, groupsTable } from "./chart.js";

// Shown until the server's own list of formats (GET /api/usage/formats) arrives.
const FORMATS_TEXT = "CSV, JSON Lines or a provider's usage export.";
// Live notices come at most once a second per org; refetches are spaced at least this much too.
const REFRESH_GAP_MS = 1000;

export class UsageView {
  constructor({ socket } = {}) {
    this.visible = false;
    this.lastLoad = 0;
    if (socket) socket.addEventListener("usage-updated", () => this.onUsageUpdated());
    this.file = h("input", { type: "file", id: "usage-file", class: "file-input", name: "file", accept: ".csv,.jsonl,.ndjson,.json,.txt,text/csv,application/json", "aria-describedby": "usage-formats" });
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
        h("div", { class: "stat" }, h("dt", {}, "Rejected"), h("dd", {}, h("span", { class: "stat-value", id: "import-rejected" }, number(rejected.length)))),
      ),
      body.format ? h("p", { class: "muted" }, `Detected format: ${body.format}`) : null,
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
    if (!this.formatsLoaded) {
      this.formatsLoaded = true;
      this.loadFormats();
    }
    this.resizeObserver.observe(this.summary);
    await this.loadSummary();
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
