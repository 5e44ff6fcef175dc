/** The account page: who you are, your organisations (switch between them), your password, the
 * devices signed in to your account (sign any of them out) and the share links you made (revoke them). */

import * as api from "./api.js";
import { h, clear, relativeTime } from "./dom.js";
import * as profile from "./profile.js";
import { SharedLinks } from "./shares.js";

/** A short name for a browser or client from its User-Agent. */
function device(userAgent) {
  const ua = String(userAgent || "");
  const browser = /Edg\//.test(ua) ? "Edge" : /Chrome\//.test(ua) ? "Chrome" : /Firefox\//.test(ua) ? "Firefox" : /Safari\//.test(ua) ? "Safari" : ua.split(/[/ ]/)[0] || "Unknown client";
  const os = /Windows/.test(ua) ? "Windows" : /Mac OS X/.test(ua) ? "macOS" : /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

export class AccountView {
  /** onSwitch(orgId) moves the session to another organisation. */
  constructor({ onSwitch } = {}) {
    this.onSwitch = onSwitch;
    this.profileBody = h("div", { id: "account-profile" });
    this.orgs = h("div", { id: "account-orgs" });
    this.sessions = h("div", { id: "account-sessions" });
    this.shares = new SharedLinks();
    this.el = h(
      "section",
      { class: "usage account", "aria-labelledby": "account-title" },
      h("header", { class: "page-head" }, h("h2", { id: "account-title" }, "Account")),
      h(
        "div",
        { class: "page-grid" },
        h("section", { class: "card", "aria-labelledby": "profile-title" }, h("h3", { id: "profile-title" }, "You"), this.profileBody, h("h4", {}, "Organisations"), this.orgs),
        h("section", { class: "card", "aria-labelledby": "password-title" }, h("h3", { id: "password-title" }, "Password"), this.passwordForm()),
        h("section", { class: "card card-wide", "aria-labelledby": "sessions-title" }, h("h3", { id: "sessions-title" }, "Signed-in devices"), this.sessions),
        h("section", { class: "card card-wide", "aria-labelledby": "shares-title" }, h("h3", { id: "shares-title" }, "Shared links"), h("p", { class: "muted" }, "Each link opens one report, read-only, to anyone who has it."), this.shares.el),
      ),
    );
  }

  async show() {
    try {
      await profile.refresh();
    } catch (err) {
      clear(this.profileBody).append(h("p", { class: "error-text" }, err.message));
      return;
    }
    this.renderProfile();
    await Promise.all([this.loadSessions(), this.shares.load()]);
  }

  hide() {}

  renderProfile() {
    const me = profile.current();
    clear(this.profileBody).append(h("dl", { class: "facts" }, h("dt", {}, "Name"), h("dd", {}, me.name || "—"), h("dt", {}, "Email"), h("dd", { id: "account-email" }, me.email), h("dt", {}, "Role here"), h("dd", { id: "account-role" }, profile.roleLabel(me.role))));
    const rows = (me.orgs || []).map((org) => {
      const here = org.id === me.org;
      const action = here ? h("span", { class: "muted" }, "Current") : h("button", { type: "button", class: "btn btn-small", dataset: { switch: org.id }, onclick: () => this.onSwitch && this.onSwitch(org.id) }, "Switch");
      return h("tr", {}, h("th", { scope: "row" }, org.name), h("td", {}, profile.roleLabel(org.role)), h("td", { class: "align-right" }, action));
    });
    clear(this.orgs).append(h("div", { class: "table-wrap" }, h("table", { class: "data-table", id: "orgs-table" }, h("tbody", {}, rows))));
  }

  passwordForm() {
    const current = h("input", { type: "password", id: "password-current", class: "input", autocomplete: "current-password", required: true });
    const next = h("input", { type: "password", id: "password-new", class: "input", autocomplete: "new-password", required: true });
    const result = h("p", { id: "password-result", role: "status" });
    const submit = h("button", { type: "submit", class: "btn btn-primary", id: "password-submit" }, "Change password");
    const form = h(
      "form",
      { id: "password-form" },
      h("div", { class: "field" }, h("label", { for: "password-current", class: "label" }, "Current password"), current),
      h("div", { class: "field" }, h("label", { for: "password-new", class: "label" }, "New password"), next, h("p", { class: "muted field-hint" }, "At least 8 characters. Your other devices will be signed out.")),
      result,
      submit,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      result.className = "";
      submit.disabled = true;
      try {
        const done = await api.post("/auth/password", { current_password: current.value, new_password: next.value });
        result.textContent = done.sessions_ended ? `Password changed. ${done.sessions_ended} other session(s) were signed out.` : "Password changed.";
        current.value = next.value = "";
        await this.loadSessions();
      } catch (err) {
        result.className = "error-text";
        result.textContent = err.message;
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  }

  async loadSessions() {
    let sessions;
    try {
      sessions = await api.get("/auth/sessions");
    } catch (err) {
      clear(this.sessions).append(h("p", { class: "error-text" }, err.message));
      return;
    }
    const rows = sessions.map((s) =>
      h(
        "tr",
        { dataset: { session: s.id, current: String(s.current) } },
        h("th", { scope: "row" }, device(s.user_agent)),
        h("td", {}, s.ip || ""),
        h("td", {}, s.org.name || s.org.id),
        h("td", {}, relativeTime(s.last_used_at)),
        h("td", { class: "align-right" }, s.current ? h("span", { class: "muted" }, "This device") : h("button", { type: "button", class: "btn btn-small", onclick: () => this.revoke(s) }, "Sign out")),
      ),
    );
    const head = ["Device", "Address", "Organisation", "Last active", ""].map((label) => h("th", { scope: "col" }, label));
    clear(this.sessions).append(h("div", { class: "table-wrap" }, h("table", { class: "data-table", id: "sessions-table" }, h("thead", {}, h("tr", {}, head)), h("tbody", {}, rows))));
  }

  async revoke(session) {
    try {
      await api.del(`/auth/sessions/${encodeURIComponent(session.id)}`);
    } catch (err) {
      clear(this.sessions).append(h("p", { class: "error-text" }, err.message));
    }
    await this.loadSessions();
  }
}
