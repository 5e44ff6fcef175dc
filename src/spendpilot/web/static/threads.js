/** The conversation list: new, open, rename, delete and a search filter over /api/threads. */

import * as api from "./api.js";
import { h, clear, relativeTime } from "./dom.js";

export class ThreadList {
  /** onDeleted(id) lets the chat leave a thread that was just deleted. */
  constructor({ onDeleted, onRenamed } = {}) {
    this.threads = [];
    this.activeId = null;
    this.busy = new Set();
    this.loaded = false;
    this.error = null;
    this.onDeleted = onDeleted || (() => {});
    this.onRenamed = onRenamed || (() => {});

    this.search = h("input", {
      type: "search",
      id: "thread-search",
      class: "input",
      placeholder: "Search conversations",
      autocomplete: "off",
    });
    this.search.addEventListener("input", () => this.render());
    this.list = h("ul", { class: "thread-list", "aria-label": "Conversations" });
    this.empty = h("div", { class: "thread-empty" });
    this.el = h(
      "nav",
      { class: "sidebar", id: "sidebar", "aria-label": "Conversations" },
      h("div", { class: "sidebar-top" }, h("a", { class: "btn btn-primary btn-new", href: "#/chat", id: "new-chat" }, "+ New chat")),
      h("div", { class: "sidebar-search" }, h("label", { for: "thread-search", class: "visually-hidden" }, "Search conversations"), this.search),
      this.list,
      this.empty,
    );
  }

  async load() {
    try {
      this.threads = api.asList(await api.get("/api/threads"), "threads");
      this.error = null;
    } catch (err) {
      this.error = err;
    }
    this.loaded = true;
    this.sort();
    this.render();
  }

  sort() {
    this.threads.sort((a, b) => String(b.updated_at || b.created_at || "").localeCompare(String(a.updated_at || a.created_at || "")));
  }

  setActive(id) {
    this.activeId = id;
    this.render();
  }

  /** Mark threads with a run in progress. */
  setBusy(ids) {
    this.busy = new Set(ids);
    this.render();
  }

  touch(id) {
    const thread = this.threads.find((t) => t.id === id);
    if (!thread) return this.load();
    thread.updated_at = new Date().toISOString();
    this.sort();
    this.render();
    return null;
  }

  render() {
    const query = this.search.value.trim().toLowerCase();
    const shown = this.threads.filter((t) => !query || String(t.title || "").toLowerCase().includes(query));
    clear(this.list);
    shown.forEach((thread) => this.list.append(this.item(thread)));
    clear(this.empty);
    if (!this.loaded) {
      this.empty.append(h("p", { class: "muted" }, "Loading conversations…"));
    } else if (this.error) {
      this.empty.append(
        h("p", { class: "error-text" }, `Could not load conversations: ${this.error.message}`),
        h("button", { type: "button", class: "btn btn-small", onclick: () => this.load() }, "Try again"),
      );
    } else if (!this.threads.length) {
      this.empty.append(
        h("p", {}, h("strong", {}, "No conversations yet.")),
        h("p", { class: "muted" }, "Ask a question in the chat to start one."),
        h("p", { class: "muted" }, "No usage data yet? ", h("a", { href: "#/usage" }, "Import a usage file"), " first."),
      );
    } else if (!shown.length) {
      this.empty.append(h("p", { class: "muted" }, `No conversation matches “${this.search.value.trim()}”.`));
    }
  }

  item(thread) {
    const active = thread.id === this.activeId;
    const title = thread.title || "Untitled conversation";
    const li = h("li", { class: "thread", dataset: { threadId: thread.id, active: String(active) } });
    const link = h(
      "a",
      { href: `#/chat/${encodeURIComponent(thread.id)}`, class: "thread-link", "aria-current": active ? "page" : null },
      h("span", { class: "thread-title" }, title),
      h("span", { class: "thread-meta" }, this.busy.has(thread.id) ? h("span", { class: "busy-dot", title: "A run is in progress" }, "running") : null, relativeTime(thread.updated_at || thread.created_at)),
    );
    const rename = h("button", { type: "button", class: "icon-btn", "aria-label": `Rename “${title}”`, title: "Rename" }, "Rename");
    const remove = h("button", { type: "button", class: "icon-btn icon-danger", "aria-label": `Delete “${title}”`, title: "Delete" }, "Delete");
    rename.addEventListener("click", () => this.startRename(li, thread));
    remove.addEventListener("click", () => this.confirmDelete(li, thread));
    li.append(link, h("div", { class: "thread-actions" }, rename, remove));
    return li;
  }

  startRename(li, thread) {
    const input = h("input", { type: "text", class: "input", value: thread.title || "", "aria-label": "New title", maxlength: "200" });
    const error = h("p", { class: "error-text", role: "alert" });
    const form = h(
      "form",
      { class: "thread-rename" },
      input,
      h("div", { class: "row" }, h("button", { type: "submit", class: "btn btn-small btn-primary" }, "Save"), h("button", { type: "button", class: "btn btn-small", onclick: () => this.render() }, "Cancel")),
      error,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const title = input.value.trim();
      if (!title) {
        error.textContent = "A title cannot be empty.";
        return;
      }
      try {
        const updated = await api.patch(`/api/threads/${encodeURIComponent(thread.id)}`, { title });
        Object.assign(thread, updated && updated.id ? updated : { title });
        this.render();
        this.onRenamed(thread.id);
        this.focusThread(thread.id);
      } catch (err) {
        error.textContent = err.message;
      }
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        this.render();
        this.focusThread(thread.id);
      }
    });
    clear(li).append(form);
    input.focus();
    input.select();
  }

  confirmDelete(li, thread) {
    const error = h("p", { class: "error-text", role: "alert" });
    const yes = h("button", { type: "button", class: "btn btn-small btn-danger" }, "Delete");
    const no = h("button", { type: "button", class: "btn btn-small" }, "Cancel");
    no.addEventListener("click", () => {
      this.render();
      this.focusThread(thread.id);
    });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        await api.del(`/api/threads/${encodeURIComponent(thread.id)}`);
        this.threads = this.threads.filter((t) => t.id !== thread.id);
        this.render();
        this.onDeleted(thread.id);
      } catch (err) {
        yes.disabled = false;
        error.textContent = err.message;
      }
    });
    clear(li).append(h("div", { class: "thread-confirm", role: "group", "aria-label": "Confirm delete" }, h("p", {}, `Delete “${thread.title || "Untitled conversation"}”?`), h("div", { class: "row" }, yes, no), error));
    no.focus();
  }

  focusThread(id) {
    const link = this.list.querySelector(`[data-thread-id="${CSS.escape(id)}"] .thread-link`);
    if (link) link.focus();
  }
}
