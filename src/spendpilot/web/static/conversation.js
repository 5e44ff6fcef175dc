/** The conversation's own controls: regenerate the newest answer, edit the last question, export the thread. */

import * as api from "./api.js";
import { h } from "./dom.js";

export class ConversationControls {
  /** chat: the ChatView these controls act on (its messages, views, socket and run store). */
  constructor(chat) {
    this.chat = chat;
    this.exportMarkdown = h("button", { type: "button", class: "btn btn-small", id: "export-markdown" }, "Export Markdown");
    this.exportMarkdown.addEventListener("click", () => this.exportThread("markdown"));
    this.exportJson = h("button", { type: "button", class: "btn btn-small", id: "export-json" }, "Export JSON");
    this.exportJson.addEventListener("click", () => this.exportThread("json"));
    this.exportStatus = h("span", { class: "muted chat-tools-status", role: "status" });
    this.tools = h("div", { class: "chat-tools", role: "group", "aria-label": "Conversation export", hidden: true }, this.exportMarkdown, this.exportJson, this.exportStatus);
  }

  /** Regenerate goes on the newest answer, Edit on the last question: the only ones they can change. */
  refresh() {
    const questions = [...this.chat.messages.querySelectorAll(".msg-user")];
    questions.forEach((q, i) => {
      const edit = q.querySelector(".msg-edit");
      if (edit) edit.hidden = i !== questions.length - 1 || q.dataset.pending === "true" || q.dataset.failed === "true";
    });
    // Runs in the order the page shows them; the newest that was not replaced is the one to regenerate.
    const runs = [...this.chat.messages.querySelectorAll(".run")].map((el) => this.chat.views.get(el.dataset.runId)).filter(Boolean);
    const newest = runs.filter((view) => !view.superseded).pop();
    runs.forEach((view) => view.actions.setCanRegenerate(view === newest && view.finished && !this.chat.sending));
  }

  async exportThread(format) {
    this.exportStatus.textContent = "";
    try {
      await api.download(`/api/threads/${encodeURIComponent(this.chat.threadId)}/export?format=${format}`, `conversation.${format === "json" ? "json" : "md"}`);
    } catch (err) {
      this.exportStatus.textContent = `Could not export: ${err.message}`;
    }
  }

  /** Answer the thread's last question again: a new run after the others; the old answer stays, marked. */
  async regenerate() {
    const threadId = this.chat.threadId;
    let ack;
    this.chat.sending += 1;
    this.refresh();
    try {
      ack = await this.chat.socket.regenerate(threadId);
    } catch (err) {
      this.chat.announce(`Could not regenerate: ${err.message}`);
      return;
    } finally {
      this.chat.sending -= 1;
      this.chat.updateBusy();
    }
    if (threadId !== this.chat.threadId) return;
    const replaced = this.chat.views.get(ack.regenerates);
    if (replaced) replaced.markSuperseded();
    this.chat.sentRuns.add(ack.run_id);
    this.chat.store.ensure(ack.run_id, ack.thread_id);
    const view = this.chat.attachRun(ack.run_id);
    this.chat.messages.append(view.el);
    this.chat.stick = true;
    this.chat.scrollToBottom(true);
    this.refresh();
    this.chat.threads.touch(threadId);
  }

  /** Edit the last question in place: a form over the bubble; sending it stores a new message and runs it. */
  startEdit(article, content) {
    const input = h("textarea", { class: "input edit-input", rows: "3", "aria-label": "Edited message", maxlength: "20000" });
    input.value = content;
    const save = h("button", { type: "submit", class: "btn btn-small btn-primary" }, "Send edited");
    const cancel = h("button", { type: "button", class: "btn btn-small" }, "Cancel");
    const error = h("p", { class: "error-text", role: "alert" });
    const form = h("form", { class: "msg-edit-form" }, input, h("div", { class: "row" }, save, cancel), error);
    cancel.addEventListener("click", () => {
      form.remove();
      article.hidden = false;
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) {
        error.textContent = "A message cannot be empty.";
        return;
      }
      save.disabled = true;
      try {
        await this.editLast(text);
        form.remove();
        article.hidden = false;
      } catch (err) {
        save.disabled = false;
        error.textContent = `Not sent: ${err.message}`;
      }
    });
    article.hidden = true;
    article.after(form);
    input.focus();
  }

  async editLast(content) {
    const threadId = this.chat.threadId;
    const messages = api.asList(await api.get(`/api/threads/${encodeURIComponent(threadId)}/messages`), "messages");
    const last = [...messages].reverse().find((m) => m.role === "user");
    if (!last) throw new Error("this conversation has no message to edit");
    const ack = await this.chat.socket.editMessage(threadId, last.id, content);
    if (threadId !== this.chat.threadId) return;
    this.chat.messages.append(this.chat.userMessage(content, { id: ack.message_id, edited: true }));
    this.chat.sentRuns.add(ack.run_id);
    this.chat.store.ensure(ack.run_id, ack.thread_id);
    this.chat.messages.append(this.chat.attachRun(ack.run_id).el);
    this.chat.stick = true;
    this.chat.scrollToBottom(true);
    this.chat.updateBusy();
    this.refresh();
    this.chat.threads.touch(threadId);
  }
}
