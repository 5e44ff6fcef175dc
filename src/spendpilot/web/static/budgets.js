/** The budgets page: create and edit monthly budgets, a bar per budget (spent, forecast, limit, thresholds), recent alerts. */

import * as api from "./api.js";
import { h, s, clear, money, relativeTime } from "./dom.js";

const REFRESH_MS = 15_000;
const SCOPE_KEYS = [
  ["feature", "Feature"],
  ["model", "Model"],
  ["provider", "Provider"],
  ["user", "User"],
  ["tag", "Tag (name=value)"],
];
const STATE_TEXT = { ok: "On track", warning: "Warning", forecast_exceeded: "Forecast over budget", exceeded: "Over budget" };
const ALERT_TITLE = {
  "budget.threshold_crossed": (a) => `${budgetName(a)} passed ${a.threshold}%`,
  "budget.forecast_exceeded": (a) => `${budgetName(a)} is forecast over budget`,
  "spend.anomaly": (a) => `Spend anomaly on ${a.day} (${scopeText(a.scope)})`,
};

function budgetName(alert) {
  return (alert.event && alert.event.budget && alert.event.budget.name) || "A budget";
}

function scopeText(scope) {
  const entries = Object.entries(scope || {});
  return entries.length ? entries.map(([k, v]) => `${k} ${v}`).join(", ") : "whole organisation";
}

function pct(value, scale) {
  return Math.max(0, Math.min(100, (Number(value) / scale) * 100));
}

/** spent, forecast and the limit on one scale; threshold ticks at their share of the limit. */
function budgetBar(b) {
  const amount = Number(b.amount_usd);
  const forecast = b.forecast_usd === null || b.forecast_usd === undefined ? null : Number(b.forecast_usd);
  const scale = Math.max(amount, Number(b.spent_usd), forecast || 0) || 1;
  const label = `Spent ${money(b.spent_usd)} of ${money(amount)}` + (forecast !== null ? `, forecast ${money(forecast)} this month` : "");
  return s(
    "svg",
    { class: `budget-bar state-${b.state}`, viewBox: "0 0 100 14", preserveAspectRatio: "none", role: "img", "aria-label": label },
    s("title", {}, label),
    s("rect", { class: "bar-track", x: 0, y: 2, width: 100, height: 10, rx: 2 }),
    forecast !== null ? s("rect", { class: "bar-forecast", x: 0, y: 2, width: pct(forecast, scale).toFixed(2), height: 10, rx: 2 }) : null,
    s("rect", { class: "bar-spent", x: 0, y: 2, width: pct(b.spent_usd, scale).toFixed(2), height: 10, rx: 2 }),
    (b.thresholds || []).filter((t) => t < 100).map((t) => s("line", { class: "bar-threshold", x1: pct((amount * t) / 100, scale), x2: pct((amount * t) / 100, scale), y1: 0, y2: 14 })),
    s("line", { class: "bar-limit", x1: pct(amount, scale), x2: pct(amount, scale), y1: 0, y2: 14 }),
  );
}

function field(id, labelText, attrs = {}) {
  const input = h("input", { id, name: id, class: "input", ...attrs });
  return { input, el: h("div", { class: "field" }, h("label", { for: id, class: "label" }, labelText), input) };
}

export class BudgetsView {
  constructor() {
    this.editing = null;
    this.fields = {
      name: field("budget-name", "Name", { required: true, maxlength: 200, autocomplete: "off" }),
      amount: field("budget-amount", "Monthly amount (USD)", { type: "number", min: "0.01", step: "0.01", required: true }),
      thresholds: field("budget-thresholds", "Alert at (% of the amount)", { value: "50, 80, 100", inputmode: "numeric" }),
      webhook: field("budget-webhook", "Webhook URL", { type: "url", placeholder: "https://example.com/hooks/spend" }),
      slack: field("budget-slack", "Slack webhook URL", { type: "url", placeholder: "https://hooks.slack.com/services/…" }),
    };
    this.scopeFields = SCOPE_KEYS.map(([key, label]) => ({ key, ...field(`budget-scope-${key}`, label, { maxlength: 200, autocomplete: "off" }) }));
    this.formTitle = h("h3", { id: "budget-form-title" }, "New budget");
    this.submitButton = h("button", { type: "submit", class: "btn btn-primary", id: "budget-submit" }, "Create budget");
    this.cancelButton = h("button", { type: "button", class: "btn", hidden: true, onclick: () => this.resetForm() }, "Cancel");
    this.formError = h("p", { class: "form-error", role: "alert" });
    this.secret = h("div", { id: "budget-secret-box", role: "status", "aria-live": "polite" });
    this.form = h(
      "form",
      { class: "budget-form", id: "budget-form", "aria-labelledby": "budget-form-title" },
      this.fields.name.el,
      this.fields.amount.el,
      this.fields.thresholds.el,
      h("fieldset", { class: "scope-fields" }, h("legend", { class: "label" }, "Scope"), h("p", { class: "muted field-hint" }, "Leave empty for the whole organisation."), this.scopeFields.map((f) => f.el)),
      this.fields.webhook.el,
      this.fields.slack.el,
      this.formError,
      h("div", { class: "row wrap" }, this.submitButton, this.cancelButton),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.list = h("div", { class: "budget-list", id: "budget-list", "aria-live": "polite" }, h("p", { class: "muted" }, "Loading budgets…"));
    this.alerts = h("div", { class: "alert-list", id: "alert-list" }, h("p", { class: "muted" }, "Loading alerts…"));
    this.el = h(
      "section",
      { class: "budgets", "aria-labelledby": "budgets-title" },
      h("header", { class: "page-head" }, h("h2", { id: "budgets-title" }, "Budgets"), h("p", { class: "muted" }, "Monthly spend limits with alerts before the bill arrives: spent so far, the month's forecast, and who is told when a threshold is passed.")),
      h(
        "div",
        { class: "usage-grid" },
        h("section", { class: "card" }, this.formTitle, this.form, this.secret),
        h(
          "div",
          { class: "budget-column" },
          h("section", { class: "card", "aria-labelledby": "budget-list-title" }, h("div", { class: "row card-head" }, h("h3", { id: "budget-list-title" }, "This month"), h("button", { type: "button", class: "btn btn-small", id: "budgets-refresh", onclick: () => this.load() }, "Refresh")), h("p", { class: "muted bar-legend" }, "Bars: spent so far (solid), the month's forecast (dashed), the budget (line) and alert thresholds (ticks)."), this.list),
          h("section", { class: "card", "aria-labelledby": "alerts-title" }, h("h3", { id: "alerts-title" }, "Recent alerts"), this.alerts),
        ),
      ),
    );
  }

  async show() {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.load(), REFRESH_MS);
    await this.load();
  }

  hide() {
    clearInterval(this.timer);
  }

  async load() {
    try {
      const [budgets, alerts] = await Promise.all([api.get("/api/budgets"), api.get("/api/alerts?limit=20")]);
      this.budgets = api.asList(budgets, "budgets");
      this.renderBudgets();
      this.renderAlerts(api.asList(alerts, "alerts"));
    } catch (err) {
      clear(this.list).append(h("p", { class: "error-text" }, `Could not load budgets: ${err.message}`));
    }
  }

  renderBudgets() {
    clear(this.list);
    if (!this.budgets.length) {
      this.list.append(h("div", { class: "empty-state" }, h("p", {}, h("strong", {}, "No budgets yet.")), h("p", { class: "muted" }, "Create one to see this month's spend against it and to be alerted as it fills.")));
      return;
    }
    for (const b of this.budgets) this.list.append(this.budgetItem(b));
  }

  budgetItem(b) {
    const forecast = b.forecast_usd === null || b.forecast_usd === undefined ? null : b.forecast_usd;
    const month = b.current_period ? b.current_period.month : "";
    return h(
      "article",
      { class: "budget", dataset: { budgetId: b.id, state: b.state } },
      h("div", { class: "row budget-head" }, h("h4", { class: "budget-name" }, b.name), h("span", { class: `state-badge state-${b.state}` }, STATE_TEXT[b.state] || b.state)),
      h("p", { class: "muted budget-scope" }, `${scopeText(b.scope)} · alerts at ${(b.thresholds || []).join(", ")}% · ${month}`),
      budgetBar(b),
      h(
        "p",
        { class: "budget-figures" },
        h("span", { class: "budget-spent" }, money(b.spent_usd)),
        " spent of ",
        h("span", { class: "budget-amount" }, money(b.amount_usd)),
        forecast !== null ? [" · forecast ", h("span", { class: "budget-forecast" }, money(forecast)), b.forecast_low_usd !== null ? h("span", { class: "muted" }, ` (${money(b.forecast_low_usd)}–${money(b.forecast_high_usd)})`) : null] : h("span", { class: "muted" }, ` · ${b.forecast_note || "no forecast"}`),
      ),
      h("div", { class: "row" }, h("button", { type: "button", class: "btn btn-small", onclick: () => this.edit(b) }, "Edit"), h("button", { type: "button", class: "btn btn-small", onclick: () => this.remove(b) }, "Delete")),
    );
  }

  renderAlerts(alerts) {
    clear(this.alerts);
    if (!alerts.length) {
      this.alerts.append(h("p", { class: "muted" }, "No alerts yet. They appear here when a budget passes a threshold, is forecast to go over, or spend spikes."));
      return;
    }
    this.alerts.append(
      h(
        "ul",
        { class: "alerts" },
        alerts.map((a) =>
          h(
            "li",
            { class: "alert-item", dataset: { type: a.type, alertId: a.id } },
            h("div", { class: "row" }, h("strong", {}, (ALERT_TITLE[a.type] || (() => a.type))(a)), h("span", { class: "muted alert-time", title: a.occurred_at }, relativeTime(a.occurred_at))),
            h("p", { class: "muted" }, alertDetail(a), " ", deliveryText(a.deliveries || [])),
          ),
        ),
      ),
    );
  }

  readForm() {
    const thresholds = this.fields.thresholds.input.value
      .split(/[,\s]+/)
      .filter(Boolean)
      .map(Number);
    const scope = {};
    for (const f of this.scopeFields) if (f.input.value.trim()) scope[f.key] = f.input.value.trim();
    return { name: this.fields.name.input.value.trim(), amount_usd: Number(this.fields.amount.input.value), thresholds, scope };
  }

  async save() {
    this.formError.textContent = "";
    const body = this.readForm();
    if (body.thresholds.some((t) => !Number.isFinite(t))) {
      this.formError.textContent = "Thresholds are percentages separated by commas, e.g. 50, 80, 100.";
      return;
    }
    const webhook = this.fields.webhook.input.value.trim();
    const slack = this.fields.slack.input.value.trim();
    this.submitButton.disabled = true;
    try {
      if (this.editing) {
        const notify = {};
        if (webhook !== (this.editing.notify.webhook_url || "")) notify.webhook_url = webhook || null;
        // The stored Slack URL is never shown back: an empty field keeps it.
        if (slack) notify.slack_webhook_url = slack;
        if (Object.keys(notify).length) body.notify = notify;
        await api.patch(`/api/budgets/${encodeURIComponent(this.editing.id)}`, body);
        this.resetForm();
      } else {
        body.notify = {};
        if (webhook) body.notify.webhook_url = webhook;
        if (slack) body.notify.slack_webhook_url = slack;
        const created = await api.post("/api/budgets", body);
        this.resetForm();
        this.showSecret(created);
      }
      await this.load();
    } catch (err) {
      this.formError.textContent = err.message;
    } finally {
      this.submitButton.disabled = false;
    }
  }

  showSecret(created) {
    clear(this.secret);
    const secret = created && created.notify && created.notify.secret;
    if (!secret) return;
    this.secret.append(
      h(
        "div",
        { class: "notice secret-notice" },
        h("p", {}, h("strong", {}, `Budget "${created.name}" created.`), " Its webhook signing secret is shown only now: copy it to your receiver to check the X-Spendpilot-Signature header."),
        h("code", { class: "secret", id: "budget-secret" }, secret),
        h("button", { type: "button", class: "btn btn-small", onclick: () => clear(this.secret) }, "I have copied it"),
      ),
    );
  }

  edit(b) {
    this.editing = b;
    clear(this.secret);
    this.formTitle.textContent = `Edit "${b.name}"`;
    this.submitButton.textContent = "Save changes";
    this.cancelButton.hidden = false;
    this.fields.name.input.value = b.name;
    this.fields.amount.input.value = String(b.amount_usd);
    this.fields.thresholds.input.value = (b.thresholds || []).join(", ");
    for (const f of this.scopeFields) f.input.value = (b.scope || {})[f.key] || "";
    this.fields.webhook.input.value = b.notify.webhook_url || "";
    this.fields.slack.input.value = "";
    this.fields.slack.input.placeholder = b.notify.slack_webhook_url ? "Set (leave empty to keep it)" : "https://hooks.slack.com/services/…";
    this.fields.name.input.focus();
  }

  resetForm() {
    this.editing = null;
    this.form.reset();
    this.fields.thresholds.input.value = "50, 80, 100";
    this.formTitle.textContent = "New budget";
    this.submitButton.textContent = "Create budget";
    this.cancelButton.hidden = true;
    this.formError.textContent = "";
  }

  async remove(b) {
    if (!window.confirm(`Delete the budget "${b.name}"? Its alerts stay in the list.`)) return;
    try {
      await api.del(`/api/budgets/${encodeURIComponent(b.id)}`);
      if (this.editing && this.editing.id === b.id) this.resetForm();
      await this.load();
    } catch (err) {
      this.formError.textContent = err.message;
    }
  }
}

function alertDetail(a) {
  const e = a.event || {};
  if (a.type === "spend.anomaly") return `${money(e.spent_usd)}, ${Number(e.ratio).toFixed(1)}x the usual ${money(e.baseline_usd)} a day.`;
  if (a.type === "budget.forecast_exceeded") return `Forecast ${money(e.forecast_usd)} against ${money(e.budget && e.budget.amount_usd)}; ${money(e.spent_usd)} spent.`;
  return `${money(e.spent_usd)} of ${money(e.budget && e.budget.amount_usd)} spent.`;
}

function deliveryText(deliveries) {
  if (!deliveries.length) return "Not sent: no webhook set.";
  return deliveries
    .map((d) => {
      const tries = d.attempts.length;
      if (d.status === "delivered") return `Delivered to ${d.channel}${tries > 1 ? ` after ${tries} attempts` : ""}.`;
      if (d.status === "failed") return `Not delivered to ${d.channel}: ${d.last_error || "gave up"}.`;
      return tries ? `Retrying ${d.channel} (${tries} attempts; last: ${d.last_error}).` : `Sending to ${d.channel}…`;
    })
    .join(" ");
}
