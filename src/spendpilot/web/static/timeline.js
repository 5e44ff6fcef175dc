/** One run in the chat: the live agent timeline, the streamed answer and the final report. */

import { h, clear, duration, humanize } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { renderFigures, renderRecommendations } from "./report.js";
import { AnswerActions, scopeText } from "./actions.js";

function short(text, max = 160) {
  const value = String(text ?? "");
  return value.length > max ? `${value.slice(0, max - 1)}…` : value;
}

function argsText(args) {
  if (args === undefined || args === null) return "";
  if (typeof args !== "object") return short(args, 80);
  const parts = Object.entries(args)
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`);
  return short(parts.join(", "), 90);
}

/** A one-line summary of a tool result. */
export function resultText(result) {
  if (result === undefined || result === null) return "no result";
  if (typeof result !== "object") return short(result);
  if (Array.isArray(result)) return `${result.length} rows`;
  if (typeof result.summary === "string") return short(result.summary);
  const parts = [];
  for (const [key, value] of Object.entries(result)) {
    if (Array.isArray(value)) parts.push(`${key}: ${value.length}`);
    else if (value === null || typeof value !== "object") {
      parts.push(`${key}: ${typeof value === "number" && !Number.isInteger(value) ? value.toFixed(2) : value}`);
    }
    if (parts.length >= 4) break;
  }
  return short(parts.join(" · ") || Object.keys(result).join(", "));
}

function elapsed(from, to) {
  const a = Date.parse(from);
  const b = Date.parse(to);
  return Number.isFinite(a) && Number.isFinite(b) ? b - a : undefined;
}

export class RunView {
  /** onAnnounce(text) feeds the live region; onRendered() follows streamed text; onRegenerate() answers the
   * thread's last question again. */
  constructor(runId, { onAnnounce, onLoadActivity, onRendered, onRegenerate } = {}) {
    this.onRendered = onRendered || (() => {});
    this.runId = runId;
    const announce = onAnnounce || (() => {});
    this.onAnnounce = (text) => {
      if (!this.quiet) announce(text);
    };
    this.onLoadActivity = onLoadActivity;
    this.agents = new Map();
    this.tools = new Map();
    this.toolCount = 0;
    this.stream = "";
    this.streamFrame = 0;
    this.applied = 0;
    this.userToggled = false;
    this.status = "pending";

    this.summaryText = h("span", { class: "activity-label" }, "Agent activity");
    this.summaryMeta = h("span", { class: "activity-meta" });
    this.timeline = h("ol", { class: "timeline", "aria-label": "Agent activity" });
    const summary = h("summary", {}, this.summaryText, this.summaryMeta);
    this.activity = h("details", { class: "activity", open: true }, summary, this.timeline);
    // A click on the summary (mouse or keyboard) is the person's choice; keep it.
    summary.addEventListener("click", () => {
      this.userToggled = true;
    });
    this.activity.addEventListener("toggle", () => {
      // Only a reply from history has its events still to fetch; a live run has them coming.
      if (this.activity.open && this.fromHistory && !this.applied && this.onLoadActivity) this.onLoadActivity(this);
    });
    this.statusLine = h("p", { class: "run-status", dataset: { status: "running" } });
    this.figuresSlot = h("div", { class: "figures-slot" });
    this.answer = h("div", { class: "answer markdown", "aria-busy": "true" });
    this.reportSlot = h("div", { class: "report-slot" });
    // What the answer covered (its period and scope), shown once it is known.
    this.scopeLine = h("p", { class: "run-scope", hidden: true });
    this.supersededNote = h("p", { class: "run-superseded", hidden: true }, "Replaced by a newer answer (regenerated)");
    this.actions = new AnswerActions(runId, { onRegenerate });
    this.el = h(
      "article",
      { class: "msg msg-assistant run", dataset: { runId, status: "running" }, "aria-label": "Assistant reply" },
      h("div", { class: "run-bar" }, this.statusLine),
      this.supersededNote,
      this.scopeLine,
      this.activity,
      this.figuresSlot,
      this.answer,
      this.reportSlot,
      this.actions.el,
    );
    this.setStatus("running", "Waiting for the agents…");
  }

  setOpen(open) {
    if (!this.userToggled) this.activity.open = open;
  }

  setStatus(status, text) {
    if (this.stopping && status === "running") text = "Stopping…";
    this.status = status;
    this.el.dataset.status = status;
    this.statusLine.dataset.status = status;
    clear(this.statusLine);
    if (status === "running") this.statusLine.append(h("span", { class: "spinner", "aria-hidden": "true" }));
    this.statusLine.append(text);
    if (status !== "running") this.answer.removeAttribute("aria-busy");
  }

  /** The run waits for a free run slot; its first event replaces this line. */
  showQueued(position) {
    if (!this.applied && this.status === "running") this.setStatus("running", `Queued, position ${position}`);
  }

  /** History mode: a finished reply from GET /api/threads/{id}/messages. */
  showMessage(message) {
    this.quiet = true;
    this.fromHistory = true;
    this.setStatus("completed", "Report");
    this.statusLine.hidden = true;
    this.setOpen(false);
    this.summaryMeta.textContent = " · show";
    this.renderFinal(message.content, message.report);
    this.actions.setFinished(Boolean(message.report));
    if (message.superseded_by) this.markSuperseded();
  }

  /** This answer was regenerated: it stays in the history, marked, and can no longer be regenerated. */
  markSuperseded() {
    this.superseded = true;
    this.el.dataset.superseded = "true";
    this.supersededNote.hidden = false;
    this.actions.setCanRegenerate(false);
  }

  get finished() {
    return ["completed", "failed", "cancelled"].includes(this.status);
  }

  renderFinal(markdown, report) {
    cancelAnimationFrame(this.streamFrame);
    const text = markdown || this.stream;
    clear(this.answer).append(renderMarkdown(text));
    clear(this.figuresSlot);
    clear(this.reportSlot);
    const scope = scopeText(report);
    this.scopeLine.hidden = !scope;
    this.scopeLine.textContent = scope ? `Scope: ${scope}` : "";
    const figures = renderFigures(report);
    if (figures) this.figuresSlot.append(figures);
    const recs = renderRecommendations(report, { withCaveats: !/caveat/i.test(text) });
    if (recs) this.reportSlot.append(recs);
  }

  agentRow(event) {
    const name = event.data.agent || "agent";
    let row = this.agents.get(name);
    if (!row) {
      const steps = h("ul", { class: "tl-steps" });
      const dur = h("span", { class: "tl-dur" });
      const desc = h("span", { class: "tl-desc" });
      const el = h(
        "li",
        { class: "tl-agent", dataset: { agent: name, state: "running" } },
        h("div", { class: "tl-head" }, h("span", { class: "tl-dot", "aria-hidden": "true" }), h("strong", { class: "tl-name" }, humanize(name)), desc, dur),
        steps,
      );
      row = { el, steps, dur, desc, started: event.ts };
      this.agents.set(name, row);
      this.timeline.append(el);
    }
    return row;
  }

  /** Apply events in seq order (the store guarantees order and no duplicates). */
  apply(events) {
    for (const event of events) {
      this.applied += 1;
      this.applyOne(event);
    }
    const agentCount = this.agents.size;
    this.summaryMeta.textContent = ` · ${agentCount} agent${agentCount === 1 ? "" : "s"}, ${this.toolCount} tool call${this.toolCount === 1 ? "" : "s"}`;
  }

  applyOne(event) {
    const data = event.data || {};
    switch (event.type) {
      case "agent_started": {
        const row = this.agentRow(event);
        row.started = event.ts;
        row.desc.textContent = data.description ? ` — ${data.description}` : "";
        row.el.dataset.state = "running";
        this.setStatus("running", `${humanize(data.agent)} agent working…`);
        this.onAnnounce(`${humanize(data.agent)} agent started`);
        break;
      }
      case "agent_thinking": {
        const row = this.agentRow(event);
        row.steps.append(h("li", { class: "tl-thought" }, data.thought || ""));
        break;
      }
      case "tool_executing": {
        const row = this.agentRow(event);
        const result = h("span", { class: "tl-result" }, "running…");
        const dur = h("span", { class: "tl-dur" });
        const el = h(
          "li",
          { class: "tl-tool", dataset: { tool: data.tool || "", callId: data.call_id || "", state: "running" } },
          h("span", { class: "tl-tool-icon", "aria-hidden": "true" }),
          h("code", { class: "tl-tool-name" }, data.tool || "tool"),
          h("span", { class: "tl-args" }, argsText(data.args)),
          h("span", { class: "tl-arrow", "aria-hidden": "true" }, "→"),
          result,
          dur,
        );
        this.tools.set(data.call_id, { el, result, dur });
        this.toolCount += 1;
        row.steps.append(el);
        break;
      }
      case "tool_completed": {
        let tool = this.tools.get(data.call_id);
        if (!tool) {
          this.applyOne({ ...event, type: "tool_executing" });
          tool = this.tools.get(data.call_id);
        }
        tool.el.dataset.state = data.ok === false ? "error" : "ok";
        tool.result.textContent = data.ok === false ? `failed: ${resultText(data.result ?? data.error)}` : resultText(data.result);
        tool.dur.textContent = duration(data.duration_ms);
        break;
      }
      case "partial_result": {
        // A writer that starts over (e.g. falling back to another model) marks the delta as a reset.
        if (data.reset === true || data.replace === true) this.stream = "";
        this.stream += data.delta || "";
        this.scheduleStream();
        break;
      }
      case "agent_completed": {
        const row = this.agentRow(event);
        row.el.dataset.state = "done";
        row.dur.textContent = duration(data.duration_ms ?? elapsed(row.started, event.ts));
        if (data.summary) row.steps.append(h("li", { class: "tl-summary" }, data.summary));
        if (data.final) {
          this.renderFinal(data.final_response, data.report);
          this.setStatus("completed", `Done in ${duration(data.duration_ms ?? elapsed(row.started, event.ts))}`);
          this.actions.setFinished(Boolean(data.report));
          this.setOpen(false);
          this.onAnnounce("Report ready");
        }
        break;
      }
      case "agent_error": {
        const row = this.agentRow(event);
        row.el.dataset.state = "error";
        row.steps.append(h("li", { class: "tl-error" }, `${data.code ? `${data.code}: ` : ""}${data.message || "error"}`));
        if (data.final) {
          if (this.stream) this.renderFinal(this.stream, null);
          this.setStatus("failed", `The run failed: ${data.message || data.code || "unknown error"}`);
          this.actions.setFinished(false);
          this.onAnnounce(`Run failed: ${data.message || data.code || ""}`);
        }
        break;
      }
      case "run_cancelled": {
        this.agents.forEach((row) => {
          if (row.el.dataset.state === "running") row.el.dataset.state = "cancelled";
        });
        this.tools.forEach((tool) => {
          if (tool.el.dataset.state === "running") {
            tool.el.dataset.state = "cancelled";
            tool.result.textContent = "cancelled";
          }
        });
        if (this.stream) this.renderFinal(this.stream, null);
        this.setStatus("cancelled", `Stopped${data.reason ? ` (${data.reason})` : ""}. The run was cancelled.`);
        this.actions.setFinished(false);
        this.onAnnounce("Run stopped");
        break;
      }
      default:
        break;
    }
  }

  scheduleStream() {
    if (this.streamFrame) return;
    this.streamFrame = requestAnimationFrame(() => {
      this.streamFrame = 0;
      if (this.status === "running") {
        clear(this.answer).append(renderMarkdown(this.stream));
        this.onRendered();
      }
    });
  }

  /** Stopping: shown until run_cancelled arrives. */
  markStopping() {
    this.stopping = true;
    this.setStatus("running", "Stopping…");
  }
}
