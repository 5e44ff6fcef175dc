/** The spendpilot.v1 WebSocket: handshake, acks, cancel, resume, reconnect with backoff.
 *
 * Events: "state" (detail: {state, retryIn?}), "ready" (after connection_ready),
 * "run-event" (detail: envelope), "server-error" (detail: data), "unauthorized",
 * "usage-updated" (detail: {rows, sources}: new usage of the org was stored),
 * "run-queued" (detail: {run_id, thread_id, position}: the run waits for a free run slot).
 */

import { uid } from "./dom.js";

const PROTOCOL = "spendpilot.v1";
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const ACK_TIMEOUT_MS = 15000;

function base64url(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  bytes.forEach((b) => {
    binary += String.fromCharCode(b);
  });
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export class ChatSocket extends EventTarget {
  /** getToken: async () => access token; refreshToken: async () => void (throws when signed out). */
  constructor({ getToken, refreshToken, path = "/ws" }) {
    super();
    this.getToken = getToken;
    this.refreshToken = refreshToken;
    this.path = path;
    this.ws = null;
    this.state = "idle";
    this.attempt = 0;
    this.pending = new Map();
    this.outbox = [];
    this.stopped = true;
    this.retryTimer = null;
    this.watchdog = null;
    this.heartbeatMs = 30000;
    this.lastFrameAt = 0;
    this.onOnline = () => this.reconnectNow();
    this.onOffline = () => this.setState("offline");
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    clearTimeout(this.retryTimer);
    clearInterval(this.watchdog);
    this.failPending("closed", "Connection closed", { includeQueued: true });
    this.outbox = [];
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "bye");
    }
    this.setState("idle");
  }

  get ready() {
    return this.state === "open";
  }

  setState(state, extra = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, ...extra } }));
  }

  async connect() {
    if (this.stopped) return;
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    let token;
    try {
      token = await this.getToken();
    } catch (err) {
      if (err && err.status === 401) {
        this.dispatchEvent(new Event("unauthorized"));
        return;
      }
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}${this.path}`, [
      PROTOCOL,
      `jwt.${base64url(token)}`,
    ]);
    this.ws = ws;
    let opened = false;
    ws.addEventListener("open", () => {
      opened = true;
    });
    ws.addEventListener("message", (event) => {
      if (ws === this.ws) this.onFrame(event.data);
    });
    ws.addEventListener("close", (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      clearInterval(this.watchdog);
      this.failPending("connection_lost", "The connection dropped before the server confirmed.");
      if (this.stopped) return;
      if (event.code === 1008 || !opened) {
        // Expired token (1008) or a refused upgrade (403 shows as 1006): refresh first.
        this.refreshToken().then(
          () => this.scheduleReconnect(event.code === 1008 && opened ? 0 : undefined),
          (err) => {
            if (err && err.status === 401) this.dispatchEvent(new Event("unauthorized"));
            else this.scheduleReconnect();
          },
        );
      } else {
        this.scheduleReconnect();
      }
    });
  }

  scheduleReconnect(delay) {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    if (delay === undefined) {
      const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
      delay = Math.round(base * (0.8 + Math.random() * 0.4));
    }
    this.attempt += 1;
    const state = navigator.onLine === false ? "offline" : this.attempt > 4 ? "error" : "reconnecting";
    this.setState(state, { retryIn: delay });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Skip the backoff wait (network came back, or the user asked). */
  reconnectNow() {
    if (this.stopped || (this.ws && this.ws.readyState <= WebSocket.OPEN)) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  onFrame(raw) {
    this.lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    const data = frame.data || {};
    switch (frame.type) {
      case "connection_ready":
        this.attempt = 0;
        this.heartbeatMs = (Number(data.heartbeat_s) || 30) * 1000;
        this.startWatchdog();
        this.setState("open");
        this.flush();
        this.dispatchEvent(new CustomEvent("ready", { detail: data }));
        return;
      case "ack": {
        const waiter = this.pending.get(data.client_id);
        if (waiter) {
          this.pending.delete(data.client_id);
          clearTimeout(waiter.timer);
          waiter.resolve(data);
        }
        return;
      }
      case "error": {
        const waiter = data.client_id && this.pending.get(data.client_id);
        if (waiter) {
          this.pending.delete(data.client_id);
          clearTimeout(waiter.timer);
          const err = new Error(data.message || data.code);
          err.code = data.code;
          waiter.reject(err);
        } else {
          this.dispatchEvent(new CustomEvent("server-error", { detail: data }));
        }
        return;
      }
      case "usage_updated":
        this.dispatchEvent(new CustomEvent("usage-updated", { detail: data }));
        return;
      case "run_queued":
        this.dispatchEvent(new CustomEvent("run-queued", { detail: data }));
        return;
      case "pong":
      case "heartbeat":
      case "auth_ok":
        return;
      default:
        if (frame.run_id && typeof frame.seq === "number") {
          this.dispatchEvent(new CustomEvent("run-event", { detail: frame }));
        }
    }
  }

  startWatchdog() {
    clearInterval(this.watchdog);
    // A silent socket (sleeping laptop, dead NAT entry) is closed and reconnected.
    this.watchdog = setInterval(() => {
      const quiet = Date.now() - this.lastFrameAt;
      if (quiet > this.heartbeatMs * 2 + 10000 && this.ws) this.ws.close(4000, "silent");
      else if (quiet > this.heartbeatMs) this.send({ type: "ping", data: { nonce: uid("p") } });
    }, Math.max(5000, this.heartbeatMs / 2));
  }

  send(frame) {
    if (this.ws && this.state === "open") {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  flush() {
    const queued = this.outbox;
    this.outbox = [];
    queued.forEach((frame) => this.send(frame));
  }

  /** Reject the messages that went out without an ack; queued ones wait for the next connection. */
  failPending(code, message, { includeQueued = false } = {}) {
    for (const [id, waiter] of this.pending) {
      if (!includeQueued && this.outbox.includes(waiter.frame)) continue;
      clearTimeout(waiter.timer);
      const err = new Error(message);
      err.code = code;
      waiter.reject(err);
      this.pending.delete(id);
    }
  }

  /** Send a chat message; resolves with the ack data {client_id, thread_id, run_id}. */
  sendMessage(content, threadId) {
    const data = { content };
    if (threadId) data.thread_id = threadId;
    return this.request("user_message", data);
  }

  /** Answer the thread's last question again; the ack adds `regenerates` (the run replaced). */
  regenerate(threadId) {
    return this.request("regenerate", { thread_id: threadId });
  }

  /** Send the thread's last message again with new words; the ack adds `message_id` (the new message). */
  editMessage(threadId, messageId, content) {
    return this.request("edit_message", { thread_id: threadId, message_id: messageId, content });
  }

  /** A frame that starts a run: resolves with its ack's data, rejects with its error frame. */
  request(type, data) {
    const id = uid("c_");
    const frame = { type, id, data };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.outbox = this.outbox.filter((queued) => queued !== frame);
        const err = new Error("The server did not confirm the message in time.");
        err.code = "ack_timeout";
        reject(err);
      }, ACK_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer, frame });
      // Messages typed while disconnected wait for the next connection_ready.
      if (!this.send(frame)) this.outbox.push(frame);
    });
  }

  /** Hand a refreshed access token to the open socket so the server does not close it at expiry. */
  reauthenticate(accessToken) {
    return this.send({ type: "auth", data: { access_token: accessToken } });
  }

  cancel(runId) {
    return this.send({ type: "cancel", data: { run_id: runId } });
  }

  resume(runId, afterSeq) {
    return this.send({ type: "resume", data: { run_id: runId, after_seq: afterSeq } });
  }
}
