/** The connectors page: add a provider admin key (never shown again), see each pull's outcome, pull now, remove. */

import * as api from "./api.js";
import { h, clear, number, money, relativeTime } from "./dom.js";

export class ConnectorsView {
  constructor() {
    this.kind = h("select", { id: "connector-kind", name: "kind", class: "input" });
    this.name = h("input", { id: "connector-name", name: "name", class: "input", maxlength: "200", placeholder: "e.g. production" });
    this.key = h("input", { id: "connector-key", name: "admin_key", class: "input", type: "password", autocomplete: "off", required: true, minlength: "8" });
    this.start = h("input", { id: "connector-start", name: "start_at", class: "input", type: "date" });
    this.message = h("p", { class: "muted", role: "status", "aria-live": "polite" });
    const form = h(
      "form",
      { class: "import-form", id: "connector-form" },
      h("label", { for: "connector-kind", class: "label" }, "Provider"),
      this.kind,
      h("label", { for: "connector-name", class: "label" }, "Name"),
      this.name,
      h("label", { for: "connector-key", class: "label" }, "Admin key"),
      h("p", { class: "muted" }, "Stored encrypted and never shown again. OpenAI: an admin key (sk-admin-…); Anthropic: an Admin API key."),
      this.key,
      h("label", { for: "connector-start", class: "label" }, "Pull usage from (default: 30 days ago)"),
      this.start,
      h("div", { class: "row wrap" }, h("button", { type: "submit", class: "btn btn-primary", id: "connector-add" }, "Add connector")),
      this.message,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.add();
    });
    this.list = h("div", { id: "connector-list" }, h("p", { class: "muted" }, "Loading connectors…"));
    this.el = h(
      "section",
      { class: "usage", "aria-labelledby": "connectors-title" },
      h("header", { class: "page-head" }, h("h2", { id: "connectors-title" }, "Connectors"), h("p", { class: "muted" }, "Pull usage and billed costs from your providers' APIs on a schedule, instead of uploading files.")),
      h("div", { class: "usage-grid" }, h("section", { class: "card", "aria-labelledby": "connector-new" }, h("h3", { id: "connector-new" }, "Add a connector"), form), h("section", { class: "card card-wide", "aria-labelledby": "connector-existing" }, h("h3", { id: "connector-existing" }, "Your connectors"), this.list)),
    );
  }

  async show() {
    if (!this.kind.options.length) {
      try {
        for (const k of await api.get("/api/connectors/kinds")) this.kind.append(h("option", { value: k.kind }, k.label));
      } catch (err) {
        this.message.textContent = `Could not load providers: ${err.message}`;
      }
    }
    await this.load();
  }

  hide() {}

  async add() {
    this.message.textContent = "Adding…";
    const body = { kind: this.kind.value, name: this.name.value.trim(), admin_key: this.key.value };
    if (this.start.value) body.start_at = `${this.start.value}T00:00:00Z`;
    try {
      await api.post("/api/connectors", body);
      this.key.value = "";
      this.message.textContent = "Added: the first pull starts within a minute.";
      await this.load();
    } catch (err) {
      this.message.textContent = `Could not add it: ${err.message}`;
    }
  }

  async load() {
    try {
      this.render(await api.get("/api/connectors"));
    } catch (err) {
      clear(this.list).append(h("p", { class: "error-text" }, `Could not load connectors: ${err.message}`));
    }
  }

  render(connectors) {
    clear(this.list);
    if (!connectors.length) {
      this.list.append(h("p", { class: "muted" }, "No connectors yet."));
      return;
    }
    for (const c of connectors) {
      const usage = ((c.last_report || {}).reports || {}).usage || {};
      const recon = (c.last_report || {}).reconciliation;
      this.list.append(
        h(
          "article",
          { class: "connector", dataset: { id: c.id } },
          h("h4", {}, `${c.name} · ${c.kind} · key ${c.key_hint}`),
          h("p", { class: "muted" }, c.last_run_at ? `Last pull ${relativeTime(c.last_run_at)}: ${c.last_status}${c.last_error ? ` (${c.last_error})` : ""}; ${number(usage.imported || 0)} rows imported.` : "Not pulled yet."),
          recon ? h("p", { class: "muted" }, `Billed ${money(recon.billed_usd)} against ${money(recon.computed_usd)} computed from usage (${recon.from.slice(0, 10)} – ${recon.to.slice(0, 10)}).`) : null,
          h("div", { class: "row wrap" }, h("button", { type: "button", class: "btn btn-small", onclick: () => this.run(c.id) }, "Pull now"), h("button", { type: "button", class: "btn btn-small", onclick: () => this.remove(c.id) }, "Remove")),
        ),
      );
    }
  }

  async run(id) {
    this.message.textContent = "Pulling…";
    try {
      const result = await api.post(`/api/connectors/${encodeURIComponent(id)}/run`);
      this.message.textContent = result.status === "ok" ? "Pulled." : `The pull failed: ${result.error}`;
    } catch (err) {
      this.message.textContent = `The pull failed: ${err.message}`;
    }
    await this.load();
  }

  async remove(id) {
    try {
      await api.del(`/api/connectors/${encodeURIComponent(id)}`);
    } catch (err) {
      this.message.textContent = `Could not remove it: ${err.message}`;
    }
    await this.load();
  }
}
