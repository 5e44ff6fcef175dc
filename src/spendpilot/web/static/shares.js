/** Your share links (GET /api/shares): each opens one report to anyone who has it, until revoked here. */

import * as api from "./api.js";
import { h, clear, relativeTime } from "./dom.js";

export class SharedLinks {
  constructor() {
    this.el = h("div", { id: "account-shares" });
  }

  async load() {
    let shares;
    try {
      shares = await api.get("/api/shares");
    } catch (err) {
      clear(this.el).append(h("p", { class: "error-text" }, err.message));
      return;
    }
    if (!shares.length) {
      clear(this.el).append(h("p", { class: "muted" }, "No links. Share an answer from the chat to make one."));
      return;
    }
    const rows = shares.map((share) =>
      h(
        "tr",
        { dataset: { share: share.id } },
        h("td", {}, share.url ? h("input", { type: "text", class: "input share-url", readonly: true, value: share.url, "aria-label": "Share link" }) : h("span", { class: "muted" }, "made with a retired key")),
        h("td", {}, h("a", { href: `#/chat/${encodeURIComponent(share.thread_id)}` }, "Conversation")),
        h("td", {}, relativeTime(share.created_at)),
        h("td", { class: "align-right" }, h("button", { type: "button", class: "btn btn-small btn-danger", onclick: () => this.revoke(share) }, "Revoke")),
      ),
    );
    const head = ["Link", "From", "Made", ""].map((label) => h("th", { scope: "col" }, label));
    clear(this.el).append(h("div", { class: "table-wrap" }, h("table", { class: "data-table", id: "shares-table" }, h("thead", {}, h("tr", {}, head)), h("tbody", {}, rows))));
  }

  async revoke(share) {
    try {
      await api.del(`/api/shares/${encodeURIComponent(share.id)}`);
    } catch (err) {
      this.el.prepend(h("p", { class: "error-text", role: "alert" }, `Could not revoke the link: ${err.message}`));
      return;
    }
    await this.load();
  }
}
