/** The team page: the organisation's members and their roles, invitations, leaving, and (for admins)
 * the audit log. Admin controls show only to roles that have the right; the server checks every call. */

import * as api from "./api.js";
import { h, clear, relativeTime } from "./dom.js";
import * as profile from "./profile.js";

const ROLES = ["viewer", "analyst", "admin"];
const ROLE_HELP = "Viewers read usage, reports and chats; analysts also import usage; admins also manage members.";

function roleSelect(id, value, label) {
  return h("select", { id, class: "input input-inline", "aria-label": label }, ROLES.map((role) => h("option", { value: role, selected: role === value }, profile.roleLabel(role))));
}

function describe(entry) {
  const detail = entry.detail || {};
  const who = detail.email || entry.target.id;
  switch (entry.action) {
    case "member.invited":
      return `invited ${detail.email} as ${detail.role}`;
    case "member.joined":
      return `joined as ${detail.role}`;
    case "member.role_changed":
      return `changed ${who} from ${detail.from} to ${detail.to}`;
    case "member.removed":
      return `removed ${who}`;
    case "member.left":
      return "left the organisation";
    case "usage.imported":
      return `imported ${entry.target.id || "a file"}: ${detail.imported} rows`;
    case "auth.sign_in":
      return `signed in (${detail.method})`;
    default:
      return entry.action.replace(/[._]/g, " ");
  }
}

export class TeamView {
  constructor({ onLeft } = {}) {
    this.onLeft = onLeft;
    this.orgName = h("span", { id: "team-org-name" });
    this.members = h("div", { class: "members-body", id: "team-members" });
    this.invitations = h("section", { class: "card", "aria-labelledby": "invite-title", id: "team-invitations", hidden: true });
    this.audit = h("section", { class: "card", "aria-labelledby": "audit-title", id: "team-audit", hidden: true });
    this.status = h("p", { class: "error-text", role: "alert", id: "team-error" });
    this.leaveButton = h("button", { type: "button", class: "btn btn-stop", id: "team-leave", onclick: () => this.leave() }, "Leave organisation");
    this.el = h(
      "section",
      { class: "usage team", "aria-labelledby": "team-title" },
      h("header", { class: "page-head" }, h("h2", { id: "team-title" }, "Team"), h("p", { class: "muted" }, this.orgName)),
      this.status,
      h("div", { class: "page-grid" }, h("section", { class: "card card-wide", "aria-labelledby": "members-title" }, h("h3", { id: "members-title" }, "Members"), h("p", { class: "muted" }, ROLE_HELP), this.members), this.invitations, this.audit),
      h("div", { class: "page-foot" }, this.leaveButton),
    );
  }

  async show() {
    clear(this.status);
    try {
      await profile.refresh();
    } catch (err) {
      this.status.textContent = `Could not load your profile: ${err.message}`;
      return;
    }
    const me = profile.current();
    this.orgName.textContent = `${me.org_name || me.org} · you are ${profile.roleLabel(me.role).toLowerCase()}`;
    this.invitations.hidden = !profile.can("members.manage");
    this.audit.hidden = !profile.can("audit.read");
    await Promise.all([this.loadMembers(), profile.can("members.manage") ? this.loadInvitations() : null, profile.can("audit.read") ? this.loadAudit(true) : null]);
  }

  hide() {}

  fail(err) {
    this.status.textContent = err.message || "Something went wrong.";
  }

  async loadMembers() {
    let members;
    try {
      members = await api.get("/api/org/members");
    } catch (err) {
      clear(this.members).append(h("p", { class: "error-text" }, `Could not load members: ${err.message}`));
      return;
    }
    const manage = profile.can("members.manage");
    const rows = members.map((m) => {
      const cells = [h("th", { scope: "row" }, m.name || m.email, m.you ? h("span", { class: "muted" }, " (you)") : null), h("td", {}, m.email)];
      if (manage) {
        const select = roleSelect(`role-${m.user_id}`, m.role, `Role of ${m.email}`);
        select.addEventListener("change", () => this.changeRole(m, select));
        const remove = h("button", { type: "button", class: "btn btn-small", dataset: { remove: m.user_id }, onclick: () => this.remove(m) }, m.you ? "Leave" : "Remove");
        cells.push(h("td", {}, select), h("td", {}, relativeTime(m.joined_at)), h("td", { class: "align-right" }, remove));
      } else cells.push(h("td", { dataset: { role: m.role } }, profile.roleLabel(m.role)), h("td", {}, relativeTime(m.joined_at)));
      return h("tr", { dataset: { member: m.email } }, cells);
    });
    const head = ["Name", "Email", "Role", "Joined", ...(manage ? [""] : [])].map((label) => h("th", { scope: "col" }, label));
    clear(this.members).append(h("div", { class: "table-wrap" }, h("table", { class: "data-table", id: "members-table" }, h("thead", {}, h("tr", {}, head)), h("tbody", {}, rows))));
  }

  async changeRole(member, select) {
    clear(this.status);
    try {
      await api.patch(`/api/org/members/${encodeURIComponent(member.user_id)}`, { role: select.value });
    } catch (err) {
      this.fail(err);
    }
    if (member.you) await profile.refresh();
    await this.show();
  }

  async remove(member) {
    if (member.you) return this.leave();
    if (!confirm(`Remove ${member.email} from the organisation? They are signed out of it at once.`)) return;
    clear(this.status);
    try {
      await api.del(`/api/org/members/${encodeURIComponent(member.user_id)}`);
    } catch (err) {
      this.fail(err);
    }
    await this.loadMembers();
    if (profile.can("audit.read")) await this.loadAudit(true);
  }

  async leave() {
    const me = profile.current();
    if (!confirm(`Leave ${me.org_name || "this organisation"}? You will need a new invitation to come back.`)) return;
    clear(this.status);
    try {
      await api.post("/api/org/leave");
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.onLeft) this.onLeft(me.org_name);
  }

  async loadInvitations() {
    const email = h("input", { type: "email", id: "invite-email", class: "input", required: true, autocomplete: "off" });
    const role = roleSelect("invite-role", "viewer", "Role");
    const submit = h("button", { type: "submit", class: "btn btn-primary", id: "invite-submit" }, "Invite");
    const result = h("div", { id: "invite-result", role: "status", "aria-live": "polite" });
    const form = h("form", { class: "invite-form", id: "invite-form" }, h("div", { class: "field" }, h("label", { for: "invite-email", class: "label" }, "Email"), email), h("div", { class: "field" }, h("label", { for: "invite-role", class: "label" }, "Role"), role), submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clear(result);
      submit.disabled = true;
      try {
        const invitation = await api.post("/api/org/invitations", { email: email.value.trim(), role: role.value });
        this.showLink(result, invitation);
        email.value = "";
        await Promise.all([this.loadPending(), profile.can("audit.read") ? this.loadAudit(true) : null]);
      } catch (err) {
        result.append(h("p", { class: "error-text", role: "alert" }, err.message));
      } finally {
        submit.disabled = false;
      }
    });
    this.pending = h("div", { id: "invite-pending" });
    clear(this.invitations).append(h("h3", { id: "invite-title" }, "Invite someone"), form, result, h("h4", {}, "Pending invitations"), this.pending);
    await this.loadPending();
  }

  showLink(where, invitation) {
    const MAIL = { sent: "An email with this link is on its way.", outbox: "No mail server is set up: the mail was written to the server's outbox.", disabled: "No mail server is set up: send the link yourself.", failed: "The mail could not be sent: send the link yourself." };
    const link = h("input", { type: "text", class: "input", id: "invite-link", readonly: true, value: invitation.url, "aria-label": "Invitation link" });
    const copy = h("button", { type: "button", class: "btn btn-small", onclick: () => navigator.clipboard && navigator.clipboard.writeText(invitation.url).catch(() => link.select()) }, "Copy link");
    where.append(h("p", {}, `Invitation for ${invitation.email} as ${invitation.role}. Only whoever signs up or signs in with that address can use it, until ${new Date(invitation.expires_at).toLocaleDateString()}.`), h("div", { class: "row" }, link, copy), h("p", { class: "muted" }, MAIL[invitation.mail] || ""));
  }

  async loadPending() {
    let pending;
    try {
      pending = await api.get("/api/org/invitations");
    } catch (err) {
      clear(this.pending).append(h("p", { class: "error-text" }, err.message));
      return;
    }
    if (!pending.length) {
      clear(this.pending).append(h("p", { class: "muted" }, "None."));
      return;
    }
    const rows = pending.map((p) => h("tr", { dataset: { invitation: p.email } }, h("td", {}, p.email), h("td", {}, profile.roleLabel(p.role)), h("td", {}, relativeTime(p.created_at)), h("td", { class: "align-right" }, h("button", { type: "button", class: "btn btn-small", onclick: () => this.revoke(p) }, "Withdraw"))));
    clear(this.pending).append(h("div", { class: "table-wrap" }, h("table", { class: "data-table" }, h("tbody", {}, rows))));
  }

  async revoke(invitation) {
    try {
      await api.del(`/api/org/invitations/${encodeURIComponent(invitation.id)}`);
    } catch (err) {
      this.fail(err);
    }
    await this.loadPending();
  }

  async loadAudit(reset) {
    if (reset) {
      this.auditCursor = null;
      this.auditList = h("ol", { class: "audit-list", id: "audit-list" });
      this.moreButton = h("button", { type: "button", class: "btn btn-small", id: "audit-more", hidden: true, onclick: () => this.loadAudit(false) }, "Show older");
      clear(this.audit).append(h("h3", { id: "audit-title" }, "Audit log"), h("p", { class: "muted" }, "Who did what, newest first."), this.auditList, this.moreButton);
    }
    try {
      const page = await api.get(`/api/org/audit?limit=25${this.auditCursor ? `&cursor=${encodeURIComponent(this.auditCursor)}` : ""}`);
      for (const entry of page.entries) {
        this.auditList.append(h("li", { dataset: { action: entry.action } }, h("time", { datetime: entry.at, title: new Date(entry.at).toLocaleString() }, relativeTime(entry.at)), " ", h("strong", {}, entry.actor ? entry.actor.email : "Spendpilot"), " ", describe(entry)));
      }
      this.auditCursor = page.next_cursor;
      this.moreButton.hidden = !page.next_cursor;
    } catch (err) {
      this.auditList.append(h("li", { class: "error-text" }, `Could not load the audit log: ${err.message}`));
    }
  }
}
