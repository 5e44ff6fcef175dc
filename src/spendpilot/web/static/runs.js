/** Run event store: every event of every run this tab has seen, in seq order, without duplicates.
 *
 * Events arrive from the socket (live, replayed after resume, pushed from another tab)
 * and from REST (history). All of them go through ingest(); listeners get each event
 * exactly once and in order. A gap (an event past the next expected seq) is held back
 * and filled from GET /api/runs/{id}/events?after=N. The last seq applied per run is
 * kept in sessionStorage so a reconnect after a reload resumes from the right place.
 */

import * as api from "./api.js";

const SEQ_KEY = "spendpilot.run_seq";
const TERMINAL = new Set(["completed", "failed", "cancelled"]);

export function isFinal(event) {
  if (event.type === "run_cancelled") return true;
  return (event.type === "agent_completed" || event.type === "agent_error") && event.data && event.data.final === true;
}

function statusOf(event) {
  if (event.type === "run_cancelled") return "cancelled";
  if (event.type === "agent_error") return "failed";
  return "completed";
}

function loadSeqs() {
  try {
    return JSON.parse(sessionStorage.getItem(SEQ_KEY) || "{}") || {};
  } catch {
    return {};
  }
}

export class RunStore extends EventTarget {
  constructor() {
    super();
    this.runs = new Map();
    this.seqs = loadSeqs();
    this.saveTimer = null;
  }

  get(runId) {
    return this.runs.get(runId);
  }

  ensure(runId, threadId) {
    let run = this.runs.get(runId);
    if (!run) {
      run = {
        id: runId,
        threadId: threadId || null,
        events: [],
        held: new Map(),
        lastSeq: 0,
        status: "running",
        final: null,
        filling: null,
        history: null,
      };
      this.runs.set(runId, run);
    }
    if (threadId && !run.threadId) run.threadId = threadId;
    return run;
  }

  /** The last seq this tab rendered for a run, also across reloads. */
  rememberedSeq(runId) {
    const run = this.runs.get(runId);
    return run ? run.lastSeq : Number(this.seqs[runId]) || 0;
  }

  ingest(event) {
    const run = this.ensure(event.run_id, event.thread_id);
    if (event.seq <= run.lastSeq || run.held.has(event.seq)) return run;
    run.held.set(event.seq, event);
    const added = [];
    while (run.held.has(run.lastSeq + 1)) {
      const next = run.held.get(run.lastSeq + 1);
      run.held.delete(run.lastSeq + 1);
      run.lastSeq = next.seq;
      run.events.push(next);
      added.push(next);
      if (isFinal(next)) {
        run.final = next;
        run.status = statusOf(next);
      }
    }
    if (added.length) {
      this.saveSeq(run);
      this.dispatchEvent(new CustomEvent("events", { detail: { run, added } }));
    }
    if (run.held.size && !run.filling) this.fill(run);
    return run;
  }

  /** Fetch what is missing after lastSeq from the event log. */
  fill(run) {
    if (run.filling) return run.filling;
    run.filling = (async () => {
      try {
        const events = api.asList(await api.get(`/api/runs/${encodeURIComponent(run.id)}/events?after=${run.lastSeq}`), "events");
        events.forEach((event) => this.ingest({ run_id: run.id, thread_id: run.threadId, ...event }));
      } finally {
        run.filling = null;
      }
    })();
    return run.filling;
  }

  /** Load a run's whole history (once) and its status; used when a thread is opened. */
  load(runId, threadId) {
    const run = this.ensure(runId, threadId);
    if (!run.history) {
      run.history = (async () => {
        await this.fill(run);
        if (!run.final) {
          const info = await api.get(`/api/runs/${encodeURIComponent(runId)}`);
          if (info && TERMINAL.has(info.status) && !run.final) {
            // Finished while we were away but the final event is not in our copy yet.
            await this.fill(run);
            if (!run.final) run.status = info.status;
          }
        }
        return run;
      })().catch((err) => {
        run.history = null;
        throw err;
      });
    }
    return run.history;
  }

  unfinished() {
    return [...this.runs.values()].filter((run) => !run.final && !TERMINAL.has(run.status));
  }

  saveSeq(run) {
    if (run.final) delete this.seqs[run.id];
    else this.seqs[run.id] = run.lastSeq;
    // Only unfinished runs are kept, and only a few: a run never seen to finish must not linger.
    const ids = Object.keys(this.seqs);
    if (ids.length > 20) ids.slice(0, ids.length - 20).forEach((id) => delete this.seqs[id]);
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => {
      try {
        sessionStorage.setItem(SEQ_KEY, JSON.stringify(this.seqs));
      } catch {
        // Storage full or unavailable: the server log still has everything.
      }
    }, 200);
  }

  reset() {
    this.runs.clear();
    this.seqs = {};
    try {
      sessionStorage.removeItem(SEQ_KEY);
    } catch {
      // ignore
    }
  }
}
