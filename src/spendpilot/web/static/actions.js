/** What can be done with an answer: regenerate it, share its report by link, export the report. */

import * as api from "./api.js";
import { h, clear } from "./dom.js";

/** "feature support-bot · 2026-11-21 – 2026-11-27": what an answer covered. */
export function scopeText(report) {
  if (!report || typeof report !== "object") return "";
  const scope = report.scope && typeof report.scope === "object" ? report.scope : {};
  const keys = Object.entries(scope).map(([key, value]) => `${key} ${value}`);
  const period = report.period || {};
  const when = period.from && period.to ? `${period.from} – ${period.to}` : "";
  return [keys.length ? keys.join(", ") : "whole organisation", when].filter(Boolean).join(" · ");
}

export class AnswerActions {
  /** onRegenerate() asks the chat to answer the thread's last question again. */
  constructor(runId, { onRegenerate } = {}) {
    this.runId = runId;
    this.regenerateButton = h("button", { type: "button", class: "btn btn-small", dataset: { action: "regenerate" }, hidden: true }, "Regenerate");
    this.regenerateButton.addEventListener("click", () => onRegenerate && onRegenerate(this));
    this.shareButton = h("button", { type: "button", class: "btn btn-small", dataset: { action: "share" } }, "Share");
    this.shareButton.addEventListener("click", () => this.share());
    this.csvButton = h("button", { type: "button", class: "btn btn-small", dataset: { action: "export-csv" } }, "Report CSV");
    this.csvButton.addEventListener("click", () => this.download("csv"));
    this.jsonButton = h("button", { type: "button", class: "btn btn-small", dataset: { action: "export-json" } }, "Report JSON");
    this.jsonButton.addEventListener("click", () => this.download("json"));
    this.reportTools = h("span", { class: "run-actions-report", hidden: true }, this.shareButton, this.csvButton, this.jsonButton);
    this.status = h("p", { class: "run-actions-status muted", role: "status" });
    this.panel = h("div", { class: "share-panel", hidden: true });
    this.el = h("div", { class: "run-actions", role: "group", "aria-label": "Answer actions", hidden: true }, this.regenerateButton, this.reportTools, this.panel, this.status);
  }

  /** Shown once the run has ended; sharing and export only for an answer with a report. */
  setFinished(hasReport) {
    this.el.hidden = false;
    this.reportTools.hidden = !hasReport;
  }

  setCanRegenerate(can) {
    this.regenerateButton.hidden = !can;
  }

  async download(format) {
    this.status.textContent = "";
    try {
      await api.download(`/api/runs/${encodeURIComponent(this.runId)}/report?format=${format}`, `report.${format}`);
    } catch (err) {
      this.status.textContent = `Could not export the report: ${err.message}`;
    }
  }

  async share() {
    this.shareButton.disabled = true;
    this.status.textContent = "";
    try {
      const made = await api.post(`/api/runs/${encodeURIComponent(this.runId)}/share`);
      this.showLink(made);
    } catch (err) {
      this.status.textContent = `Could not share: ${err.message}`;
    } finally {
      this.shareButton.disabled = false;
    }
  }

  showLink(share) {
    const input = h("input", { type: "text", class: "input share-url", readonly: true, value: share.url, "aria-label": "Share link" });
    const copy = h("button", { type: "button", class: "btn btn-small btn-primary", dataset: { action: "copy-link" } }, "Copy link");
    const revoke = h("button", { type: "button", class: "btn btn-small btn-danger", dataset: { action: "revoke-link" } }, "Revoke");
    const note = h("p", { class: "muted share-note" }, "Anyone with this link can read this report, and nothing else of your organisation, until you revoke it.");
    copy.addEventListener("click", () => this.copy(input));
    revoke.addEventListener("click", () => this.revoke(share.id, revoke));
    clear(this.panel).append(h("div", { class: "row share-row" }, input, copy, revoke), note);
    this.panel.hidden = false;
    this.panel.dataset.shareId = share.id;
    input.focus();
    input.select();
  }

  async copy(input) {
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      // No clipboard access (an insecure origin, a denied permission): the selected text can be copied by hand.
      input.select();
    }
    this.status.textContent = "Link copied.";
  }

  async revoke(shareId, button) {
    button.disabled = true;
    try {
      await api.del(`/api/shares/${encodeURIComponent(shareId)}`);
      clear(this.panel).append(h("p", { class: "muted" }, "Link revoked: it no longer opens the report."));
      this.status.textContent = "";
    } catch (err) {
      button.disabled = false;
      this.status.textContent = `Could not revoke the link: ${err.message}`;
    }
  }
}
