/** The chat: messages of the open thread, the composer, and one RunView per run. */

import * as api from "./api.js";
import { h, clear } from "./dom.js";
import { RunView } from "./timeline.js";
import { welcomeView } from "./welcome.js";
import { ConversationControls } from "./conversation.js";

export class ChatView {
  constructor({ socket, store, threads, announce }) {
    this.socket = socket;
    this.store = store;
    this.threads = threads;
    this.announce = announce;
    this.threadId = null;
    this.views = new Map();
    this.generation = 0;
    this.sending = 0;
    this.sentRuns = new Set();
    this.reloadTimer = null;

    this.title = h("h2", { class: "chat-title", id: "chat-title" }, "New chat");
    this.conversation = new ConversationControls(this);
    this.tools = this.conversation.tools;
    this.messages = h("div", { class: "messages", id: "messages", tabindex: "-1", "aria-labelledby": "chat-title" });
    this.scroller = h("div", { class: "chat-scroll" }, this.messages);
    this.input = h("textarea", {
      id: "composer-input",
      class: "input composer-input",
      rows: "1",
      placeholder: "Ask about your AI spend…",
      autocomplete: "off",
      maxlength: "20000",
    });
    this.sendButton = h("button", { type: "submit", class: "btn btn-primary", id: "send" }, "Send");
    // Stop sits where Send is, so it never moves while the timeline grows.
    this.stopButton = h("button", { type: "button", class: "btn btn-stop btn-stop-main", id: "stop", hidden: true }, "Stop");
    this.stopButton.addEventListener("click", () => this.stopAll());
    this.composer = h(
      "form",
      { class: "composer" },
      h("label", { for: "composer-input", class: "visually-hidden" }, "Message"),
      this.input,
      this.stopButton,
      this.sendButton,
    );
    this.hint = h("p", { class: "composer-hint muted" }, "Enter to send · Shift+Enter for a new line");
    this.el = h("section", { class: "chat", "aria-labelledby": "chat-title" }, h("header", { class: "chat-head" }, this.title, this.tools), this.scroller, h("div", { class: "composer-wrap" }, this.composer, this.hint));

    this.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    // Escape stops the run, as the Stop button does.
    this.el.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.stopButton.hidden) {
        event.preventDefault();
        this.stopAll();
      }
    });
    this.input.addEventListener("input", () => this.autosize());
    // Follow new output only while the reader is at the bottom; scrolling up stops it.
    // Content growing below does not count as scrolling away: only a move above the last
    // position this code set does.
    this.stick = true;
    this.autoTop = 0;
    this.scroller.addEventListener("scroll", () => {
      if (this.nearBottom()) this.stick = true;
      else if (this.scroller.scrollTop < this.autoTop - 2) this.stick = false;
    }, { passive: true });

    store.addEventListener("events", (event) => this.onEvents(event.detail));
    socket.addEventListener("ready", () => this.onReady());
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 240)}px`;
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }

  scrollToBottom(force) {
    if (force || this.stick) {
      this.scroller.scrollTop = this.scroller.scrollHeight;
      this.autoTop = this.scroller.scrollTop;
    }
  }

  setTitle() {
    const thread = this.threads.threads.find((t) => t.id === this.threadId);
    this.title.textContent = this.threadId ? (thread && thread.title) || "Conversation" : "New chat";
  }

  /** Open a thread (or the empty "new chat" page when id is null). */
  async open(threadId, { keepScroll = false } = {}) {
    const generation = ++this.generation;
    this.threadId = threadId;
    this.views = new Map();
    this.threads.setActive(threadId);
    this.setTitle();
    this.tools.hidden = !threadId;
    const scrollTop = this.scroller.scrollTop;
    if (!threadId) {
      clear(this.messages).append(welcomeView({ onAsk: (text) => this.submit(text) }));
      this.updateBusy();
      return;
    }
    if (!keepScroll) clear(this.messages).append(h("p", { class: "muted loading" }, "Loading conversation…"));
    let messages;
    try {
      messages = api.asList(await api.get(`/api/threads/${encodeURIComponent(threadId)}/messages`), "messages");
    } catch (err) {
      if (generation !== this.generation) return;
      clear(this.messages).append(
        err.status === 404
          ? h("div", { class: "empty-state" }, h("h3", {}, "Conversation not found"), h("p", {}, "It may have been deleted, or it belongs to another account."), h("a", { class: "btn", href: "#/chat" }, "Start a new chat"))
          : h("div", { class: "empty-state" }, h("p", { class: "error-text" }, `Could not load this conversation: ${err.message}`), h("button", { type: "button", class: "btn", onclick: () => this.open(threadId) }, "Try again")),
      );
      return;
    }
    if (generation !== this.generation) return;
    this.renderMessages(messages);
    if (keepScroll) this.scroller.scrollTop = scrollTop;
    else this.scrollToBottom(true);
  }

  renderMessages(messages) {
    const frag = document.createDocumentFragment();
    const answered = new Set(messages.filter((m) => m.role !== "user" && m.run_id).map((m) => m.run_id));
    const shownRuns = new Set();
    for (const message of messages) {
      if (message.role === "user") {
        frag.append(this.userMessage(message.content, { id: message.id, edited: Boolean(message.edits) }));
        if (message.run_id && !answered.has(message.run_id)) {
          frag.append(this.attachRun(message.run_id, { load: true }).el);
          shownRuns.add(message.run_id);
        }
      } else if (message.run_id) {
        shownRuns.add(message.run_id);
        const run = this.store.get(message.run_id);
        // This tab followed the run: keep its timeline (and fetch whatever it missed).
        if (run && run.events.length) frag.append(this.attachRun(message.run_id, { load: !run.final }).el);
        else frag.append(this.historyRun(message).el);
      } else {
        frag.append(h("article", { class: "msg msg-note" }, message.content || ""));
      }
    }
    // Runs of this thread we know of but the message list does not show yet (just sent).
    for (const run of this.store.runs.values()) {
      if (run.threadId === this.threadId && !shownRuns.has(run.id) && this.sentRuns.has(run.id)) {
        frag.append(this.attachRun(run.id).el);
      }
    }
    clear(this.messages).append(frag);
    if (!messages.length) this.messages.append(welcomeView({ onAsk: (text) => this.submit(text) }));
    this.updateBusy();
    this.refreshControls();
  }

  userMessage(content, { pending = false, id = null, edited = false } = {}) {
    const edit = h("button", { type: "button", class: "btn btn-small msg-edit", hidden: true }, "Edit");
    const article = h(
      "article",
      { class: "msg msg-user", dataset: { pending: String(pending), messageId: id || "" }, "aria-label": "Your message" },
      h("div", { class: "bubble" }, content),
      h("div", { class: "msg-tools" }, edited ? h("span", { class: "chip msg-edited" }, "edited") : null, edit),
    );
    edit.addEventListener("click", () => this.startEdit(article, content));
    return article;
  }

  refreshControls() {
    this.conversation.refresh();
  }

  regenerate() {
    return this.conversation.regenerate();
  }

  startEdit(article, content) {
    this.conversation.startEdit(article, content);
  }

  newView(runId) {
    const view = new RunView(runId, {
      onAnnounce: this.announce,
      onLoadActivity: (v) => this.loadActivity(v),
      onRendered: () => this.scrollToBottom(),
      onRegenerate: () => this.regenerate(),
    });
    this.views.set(runId, view);
    return view;
  }

  /** A live (or finished-in-this-tab) run, rendered from the store. */
  attachRun(runId, { load = false } = {}) {
    const run = this.store.ensure(runId, this.threadId);
    const view = this.newView(runId);
    view.apply(run.events);
    if (load) {
      this.store.load(runId, this.threadId).then(
        (loaded) => {
          this.updateBusy();
          if (!loaded.final) {
            if (["completed", "failed", "cancelled"].includes(loaded.status)) view.setStatus(loaded.status, `Run ${loaded.status}.`);
            else this.socket.resume(runId, loaded.lastSeq);
          }
        },
        (err) => view.setStatus("failed", `Could not load this run: ${err.message}`),
      );
    }
    return view;
  }

  /** A finished reply from the message list; its timeline loads when opened. */
  historyRun(message) {
    const view = this.newView(message.run_id);
    view.showMessage(message);
    return view;
  }

  async loadActivity(view) {
    try {
      const run = await this.store.load(view.runId, this.threadId);
      if (!view.applied) view.apply(run.events);
    } catch (err) {
      view.timeline.append(h("li", { class: "tl-error" }, `Could not load the activity: ${err.message}`));
    }
  }

  async submit(text) {
    const content = (text ?? this.input.value).trim();
    if (!content) {
      this.input.focus();
      return;
    }
    if (text === undefined) {
      this.input.value = "";
      this.autosize();
    }
    const generation = this.generation;
    const threadId = this.threadId;
    if (!threadId || !this.messages.querySelector(".msg")) clear(this.messages);
    const bubble = this.userMessage(content, { pending: true });
    this.messages.append(bubble);
    this.stick = true;
    this.scrollToBottom(true);
    this.sending += 1;
    this.updateBusy();
    let ack;
    try {
      ack = await this.socket.sendMessage(content, threadId);
    } catch (err) {
      bubble.dataset.pending = "false";
      bubble.dataset.failed = "true";
      const retry = h("button", { type: "button", class: "btn btn-small" }, "Retry");
      const note = h("p", { class: "msg-error", role: "alert" }, `Not sent: ${err.message} `, retry);
      retry.addEventListener("click", () => {
        bubble.remove();
        note.remove();
        this.submit(content);
      });
      bubble.after(note);
      return;
    } finally {
      this.sending -= 1;
      if (!this.sending) {
        this.stopWhenAcked = this.stopWhenAcked && Boolean(ack);
        this.updateBusy();
      }
    }
    bubble.dataset.pending = "false";
    bubble.dataset.messageId = "";
    this.sentRuns.add(ack.run_id);
    this.store.ensure(ack.run_id, ack.thread_id);
    if (generation !== this.generation) {
      if (this.stopWhenAcked) {
        this.stopWhenAcked = false;
        this.socket.cancel(ack.run_id);
      }
      this.threads.load();
      return;
    }
    // Attach the run's view before yielding to the event loop, so its first events find it.
    if (!threadId) {
      this.threadId = ack.thread_id;
      history.replaceState(null, "", `#/chat/${encodeURIComponent(ack.thread_id)}`);
    }
    const view = this.attachRun(ack.run_id);
    bubble.after(view.el);
    if (this.stopWhenAcked) {
      // Stop was pressed before the server named the run.
      this.stopWhenAcked = false;
      this.stop(ack.run_id);
    }
    this.updateBusy();
    this.refreshControls();
    this.scrollToBottom();
    if (!threadId) {
      this.tools.hidden = false;
      this.threads.load().then(() => {
        this.threads.setActive(ack.thread_id);
        this.setTitle();
      });
    } else {
      this.threads.touch(threadId);
    }
  }

  stop(runId) {
    const view = this.views.get(runId);
    if (view) view.markStopping();
    this.updateBusy();
    if (!this.socket.cancel(runId)) {
      api.post(`/api/runs/${encodeURIComponent(runId)}/cancel`).catch((err) => {
        if (view) view.setStatus("running", `Could not stop the run: ${err.message}`);
      });
    }
  }

  onEvents({ run, added }) {
    if (added.some((e) => e.seq === 1) || run.final) this.updateBusy();
    if (run.threadId !== this.threadId) {
      if (run.final) this.threads.touch(run.threadId);
      return;
    }
    const view = this.views.get(run.id);
    // A stored reply shows its timeline only when opened, and then fetches it whole.
    if (view && view.fromHistory && !view.applied) return;
    if (!view) {
      // A run started elsewhere (another tab): reload to show its message too.
      if (!this.sending) this.scheduleReload();
      return;
    }
    const following = this.stick;
    view.apply(added);
    if (run.final && following) this.showStart(view);
    else this.scrollToBottom();
    if (run.final) {
      this.threads.touch(run.threadId);
      this.refreshControls();
    }
  }

  /** When a reply is complete, show it from its top: the figures, then the text. */
  showStart(view) {
    const question = view.el.previousElementSibling;
    const anchor = question && question.classList.contains("msg-user") ? question : view.el;
    const top = anchor.getBoundingClientRect().top - this.scroller.getBoundingClientRect().top;
    this.scroller.scrollTop += top - 12;
    this.stick = this.nearBottom();
  }

  /** Stop every run of the open thread; one still being sent is stopped as soon as it is acknowledged. */
  stopAll() {
    if (this.sending) this.stopWhenAcked = true;
    this.activeRuns().forEach((run) => this.stop(run.id));
    this.updateBusy();
  }

  activeRuns() {
    return this.store.unfinished().filter((run) => run.threadId === this.threadId && this.views.has(run.id));
  }

  updateBusy() {
    this.threads.setBusy(this.store.unfinished().map((r) => r.threadId).filter(Boolean));
    const active = this.activeRuns();
    this.stopButton.hidden = !active.length && !this.sending;
    this.stopButton.disabled = this.stopWhenAcked || (active.length > 0 && active.every((run) => this.views.get(run.id).stopping));
  }

  scheduleReload() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => {
      if (this.threadId && !this.sending) this.open(this.threadId, { keepScroll: true });
    }, 250);
  }

  /** After (re)connecting: ask for whatever this tab missed of unfinished runs. */
  onReady() {
    const ids = new Set([...this.store.unfinished().map((r) => r.id), ...Object.keys(this.store.seqs)]);
    ids.forEach((id) => this.socket.resume(id, this.store.rememberedSeq(id)));
    if (this.connectedOnce && this.threadId && !this.sending) this.scheduleReload();
    this.connectedOnce = true;
  }

  focusComposer() {
    this.input.focus();
  }
}
