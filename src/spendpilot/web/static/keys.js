/** Settings / API keys: create an org key (shown once, with what to paste into an app), list and revoke keys. */

import * as api from "./api.js";
import { h, clear, relativeTime } from "./dom.js";

const SCOPES = [
  { name: "ingest", label: "Send usage (OTLP receiver and gateway)" },
  { name: "read", label: "Read usage (summaries, MCP)" },
];

/** What an app needs, for a key and this server's address. */
export function setupSnippets(origin, key) {
  return {
    otel: [
      `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=${origin}/v1/traces`,
      `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf`,
      `OTEL_EXPORTER_OTLP_HEADERS=x-spendpilot-key=${key}`,
    ].join("\n"),
    gateway: [
      `OpenAI base URL:    ${origin}/gateway/openai/v1`,
      `Anthropic base URL: ${origin}/gateway/anthropic`,
      `Extra header:       x-spendpilot-key: ${key}`,
    ].join("\n"),
    python: [
      "from openai import OpenAI",
      "",
      `client = OpenAI(base_url="${origin}/gateway/openai/v1",`,
      `                default_headers={"x-spendpilot-key": "${key}"})`,
    ].join("\n"),
  };
}

export class KeysView {
  constructor() {
    this.name = h("input", { id: "key-name", class: "input", name: "name", required: true, maxlength: "100", placeholder: "e.g. checkout-service", autocomplete: "off" });
    this.scopeBoxes = SCOPES.map((scope) => h("input", { type: "checkbox", id: `key-scope-${scope.name}`, name: "scopes", value: scope.name, checked: scope.name === "ingest" }));
    this.createButton = h("button", { type: "submit", class: "btn btn-primary", id: "key-create" }, "Create key");
    this.formError = h("p", { class: "form-error", role: "alert" });
    const form = h(
      "form",
      { class: "key-form", id: "key-form" },
      h("div", { class: "field" }, h("label", { for: "key-name", class: "label" }, "Name"), this.name),
      h("fieldset", { class: "field scopes" }, h("legend", { class: "label" }, "Scopes"), SCOPES.map((scope, i) => h("label", { class: "row", for: `key-scope-${scope.name}` }, this.scopeBoxes[i], scope.label))),
      this.formError,
      this.createButton,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
    this.created = h("div", { class: "key-created", id: "key-created", "aria-live": "polite" });
    this.list = h("div", { class: "key-list", id: "key-list" }, h("p", { class: "muted" }, "Loading keys…"));
    this.el = h(
      "section",
      { class: "usage keys", "aria-labelledby": "keys-title" },
      h("header", { class: "page-head" }, h("h2", { id: "keys-title" }, "API keys"), h("p", { class: "muted" }, "Keys let your apps send usage as it happens: OpenTelemetry traces or calls through the gateway.")),
      h("div", { class: "usage-grid" }, h("section", { class: "card", "aria-labelledby": "key-new-title" }, h("h3", { id: "key-new-title" }, "New key"), form), h("section", { class: "card card-wide", "aria-labelledby": "key-list-title" }, this.created, h("h3", { id: "key-list-title" }, "Your organisation's keys"), this.list)),
    );
  }

  async show() {
    await this.load();
  }

  hide() {}

  async create() {
    this.formError.textContent = "";
    const scopes = this.scopeBoxes.filter((box) => box.checked).map((box) => box.value);
    if (!this.name.value.trim()) {
      this.formError.textContent = "Give the key a name.";
      this.name.focus();
      return;
    }
    if (!scopes.length) {
      this.formError.textContent = "Choose at least one scope.";
      return;
    }
    this.createButton.disabled = true;
    try {
      const key = await api.post("/api/keys", { name: this.name.value.trim(), scopes });
      this.name.value = "";
      this.showCreated(key);
      await this.load();
    } catch (err) {
      this.formError.textContent = `Could not create the key: ${err.message}`;
    } finally {
      this.createButton.disabled = false;
    }
  }

  /** The key itself, once: it is not stored anywhere it could be shown again. */
  showCreated(key) {
    const snippets = setupSnippets(location.origin, key.key);
    clear(this.created).append(
      h("div", { class: "notice key-once" }, h("p", {}, h("strong", {}, `Key “${key.name}” created. `), "Copy it now: it is shown only this once."),
        codeBlock("key-value", "Key", key.key),
        key.scopes.includes("ingest") ? [
          codeBlock("key-otel", "OpenTelemetry exporter (environment variables)", snippets.otel),
          codeBlock("key-gateway", "Gateway (OpenAI and Anthropic SDKs)", snippets.gateway),
          codeBlock("key-python", "Python, with the official SDK", snippets.python),
        ] : null,
        h("button", { type: "button", class: "btn btn-small", onclick: () => clear(this.created) }, "Done, I copied it")),
    );
    this.created.querySelector("button.copy").focus();
  }

  async load() {
    try {
      const keys = await api.get("/api/keys");
      this.render(Array.isArray(keys) ? keys : []);
    } catch (err) {
      clear(this.list).append(h("p", { class: "error-text" }, `Could not load keys: ${err.message}`));
    }
  }

  render(keys) {
    clear(this.list);
    if (!keys.length) {
      this.list.append(h("p", { class: "muted" }, "No keys yet. Create one to send usage from your apps."));
      return;
    }
    this.list.append(
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "data-table keys-table" },
          h("thead", {}, h("tr", {}, ["Name", "Key", "Scopes", "Created", "Last used", ""].map((title) => h("th", { scope: "col" }, title)))),
          h("tbody", {}, keys.map((key) => h("tr", { dataset: { keyId: key.id } },
            h("td", {}, key.name),
            h("td", {}, h("code", {}, `${key.prefix}…`)),
            h("td", {}, key.scopes.join(", ")),
            h("td", { title: key.created_at }, relativeTime(key.created_at)),
            h("td", { title: key.last_used_at || "" }, key.last_used_at ? relativeTime(key.last_used_at) : "never"),
            h("td", {}, h("button", { type: "button", class: "btn btn-small btn-stop revoke", onclick: (event) => this.revoke(key, event.currentTarget) }, "Revoke")),
          ))),
        ),
      ),
    );
  }

  async revoke(key, button) {
    if (!window.confirm(`Revoke “${key.name}”? Apps using it are refused within a second.`)) return;
    button.disabled = true;
    try {
      await api.del(`/api/keys/${encodeURIComponent(key.id)}`);
      await this.load();
    } catch (err) {
      button.disabled = false;
      this.formError.textContent = `Could not revoke the key: ${err.message}`;
    }
  }
}

function codeBlock(id, label, text) {
  const code = h("pre", { class: "code-block", id }, h("code", {}, text));
  const status = h("span", { class: "muted copy-status", "aria-live": "polite" });
  const copy = h("button", { type: "button", class: "btn btn-small copy", "aria-label": `Copy: ${label}` }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      status.textContent = "Copied";
    } catch {
      // No clipboard (plain-HTTP page on another machine): select the text for Ctrl+C instead.
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      status.textContent = "Selected: press Ctrl+C";
    }
  });
  return h("div", { class: "snippet" }, h("div", { class: "row snippet-head" }, h("span", { class: "label" }, label), copy, status), code);
}
