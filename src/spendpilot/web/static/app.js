/** Entry point: session bootstrap, the app shell, routing between the chat and the pages in PAGES. */

import * as api from "./api.js";
import * as session from "./session.js";
import { h, clear } from "./dom.js";
import { authView } from "./auth.js";
import { ChatSocket } from "./socket.js";
import { RunStore } from "./runs.js";
import { ThreadList } from "./threads.js";
import { ChatView } from "./chat.js";
import { UsageView } from "./usage.js";
import { BudgetsView } from "./budgets.js";
import { TeamView } from "./team.js";
import { AccountView } from "./account.js";
import { KeysView } from "./keys.js";
import { ConnectorsView } from "./connectors.js";
import { joinView, resetView, takeLink } from "./links.js";
import * as profile from "./profile.js";

// Every page besides the chat, in nav order: adding a page is one module with a view class
// (el, show(), hide(); its constructor gets the app's context: the socket and the app's actions) and one line here.
const PAGES = [
  { path: "usage", label: "Usage", View: UsageView },
  { path: "budgets", label: "Budgets", View: BudgetsView },
  { path: "settings/keys", label: "API keys", View: KeysView },
  { path: "connectors", label: "Connectors", View: ConnectorsView },
  { path: "team", label: "Team", View: TeamView },
  { path: "account", label: "Account", View: AccountView },
];
// What a page may ask of the app: move the session to another org, or leave this one.
const APP_ACTIONS = { onSwitch: (orgId) => switchOrg(orgId), onLeft: (orgName) => leftOrg(orgName) };

const root = document.getElementById("app");
const liveRegion = document.getElementById("live-status");
let shell = null;

function announce(text) {
  // Re-set the text so the same message is announced again.
  liveRegion.textContent = "";
  setTimeout(() => {
    liveRegion.textContent = text;
  }, 50);
}

function showAuth(notice) {
  if (shell) {
    shell.destroy();
    shell = null;
  }
  document.title = "Sign in · Spendpilot";
  clear(root).append(authView({ notice, onSignedIn: () => showApp() }));
}

const STATE_TEXT = {
  idle: "Offline",
  connecting: "Connecting…",
  open: "Live",
  reconnecting: "Reconnecting…",
  offline: "No network",
  error: "Connection problem",
};

class Shell {
  constructor() {
    this.store = new RunStore();
    this.socket = new ChatSocket({ getToken: api.accessToken, refreshToken: api.refresh });
    this.threads = new ThreadList({
      onDeleted: (id) => this.onThreadDeleted(id),
      onRenamed: (id) => id === this.chat.threadId && this.chat.setTitle(),
    });
    this.chat = new ChatView({ socket: this.socket, store: this.store, threads: this.threads, announce });
    this.pages = PAGES.map((page) => ({ ...page, view: new page.View({ ...APP_ACTIONS, socket: this.socket }), link: h("a", { href: `#/${page.path}`, class: "nav-link", id: `nav-${page.path.replace(/\//g, "-")}` }, page.label) }));

    this.socket.addEventListener("run-event", (event) => this.store.ingest(event.detail));
    this.socket.addEventListener("run-queued", (event) => this.chat.views.get(event.detail.run_id)?.showQueued(event.detail.position));
    this.socket.addEventListener("state", (event) => this.showConnection(event.detail));
    this.socket.addEventListener("unauthorized", () => this.signOut("Your session has ended. Please sign in again."));
    this.socket.addEventListener("server-error", (event) => {
      if (event.detail && event.detail.code === "rate_limited") announce("Slow down: too many messages.");
    });

    this.offSession = session.onChange((current) => {
      if (current) this.socket.reauthenticate(current.access_token);
    });

    const user = (session.get() || {}).user || {};
    this.connText = h("span", { class: "conn-text" }, "Connecting…");
    this.retryButton = h("button", { type: "button", class: "btn btn-small", hidden: true, onclick: () => this.socket.reconnectNow() }, "Retry now");
    this.conn = h("div", { class: "conn", id: "connection-status", dataset: { state: "connecting" }, role: "status" }, h("span", { class: "conn-dot", "aria-hidden": "true" }), this.connText, this.retryButton);
    this.navChat = h("a", { href: "#/chat", class: "nav-link", id: "nav-chat" }, "Chat");
    this.menuButton = h("button", { type: "button", class: "btn btn-small menu-btn", "aria-controls": "sidebar", "aria-expanded": "false" }, "Conversations");
    this.menuButton.addEventListener("click", () => this.toggleSidebar());
    this.main = h("main", { class: "main", id: "main", tabindex: "-1" });
    this.layout = h("div", { class: "layout", dataset: { sidebar: "closed" } }, this.threads.el, this.main);
    this.el = h(
      "div",
      { class: "shell" },
      h("a", { href: "#main", class: "skip-link" }, "Skip to content"),
      h(
        "header",
        { class: "topbar" },
        h("div", { class: "brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), h("h1", {}, "Spendpilot")),
        this.menuButton,
        h("nav", { class: "nav", "aria-label": "Main" }, this.navChat, ...this.pages.map((page) => page.link)),
        this.conn,
        h("div", { class: "user" }, h("span", { class: "user-email", title: user.email || "" }, user.name || user.email || ""), h("span", { class: "user-org", id: "user-org", title: "Organisation and your role in it" }, `${user.org_name || ""} · ${profile.roleLabel(user.role)}`), h("button", { type: "button", class: "btn btn-small", id: "sign-out", onclick: () => this.signOut() }, "Sign out")),
      ),
      this.layout,
    );
    this.onHash = () => this.route();
    window.addEventListener("hashchange", this.onHash);
    this.threads.el.addEventListener("click", (event) => {
      if (event.target.closest("a")) this.toggleSidebar(false);
    });
    // On a phone the list covers the chat: a tap beside it or Escape closes it.
    this.main.addEventListener("click", () => this.toggleSidebar(false));
    this.layout.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.layout.dataset.sidebar === "open") {
        this.toggleSidebar(false);
        this.menuButton.focus();
      }
    });
  }

  start() {
    this.socket.start();
    this.threads.load();
    this.route();
  }

  destroy() {
    window.removeEventListener("hashchange", this.onHash);
    clearInterval(this.countdown);
    this.offSession();
    this.socket.stop();
    for (const page of this.pages) page.view.hide();
  }

  toggleSidebar(force) {
    const open = force ?? this.layout.dataset.sidebar !== "open";
    this.layout.dataset.sidebar = open ? "open" : "closed";
    this.menuButton.setAttribute("aria-expanded", String(open));
  }

  showConnection({ state, retryIn }) {
    this.conn.dataset.state = state;
    clearInterval(this.countdown);
    const waiting = (state === "reconnecting" || state === "error" || state === "offline") && retryIn > 1500;
    const retryAt = Date.now() + (retryIn || 0);
    const render = () => {
      const seconds = Math.max(0, Math.round((retryAt - Date.now()) / 1000));
      this.connText.textContent = waiting && seconds > 0 ? `${STATE_TEXT[state]} · retrying in ${seconds} s` : STATE_TEXT[state] || state;
    };
    render();
    if (waiting) this.countdown = setInterval(render, 1000);
    this.retryButton.hidden = !waiting && state !== "error" && state !== "offline";
  }

  route() {
    this.toggleSidebar(false);
    const link = takeLink();
    if (link) {
      showLink(link);
      return;
    }
    const hash = location.hash || "#/chat";
    const active = this.pages.find((page) => new RegExp(`^#/${page.path}(?:[/?]|$)`).test(hash));
    for (const link of [this.navChat, ...this.pages.map((page) => page.link)]) link.removeAttribute("aria-current");
    (active ? active.link : this.navChat).setAttribute("aria-current", "page");
    for (const page of this.pages) if (page !== active) page.view.hide();
    if (active) {
      document.title = `${active.label} · Spendpilot`;
      clear(this.main).append(active.view.el);
      active.view.show();
      return;
    }
    document.title = "Chat · Spendpilot";
    if (!this.chat.el.isConnected) clear(this.main).append(this.chat.el);
    const match = /^#\/chat\/([^/?#]+)/.exec(hash);
    const threadId = match ? decodeURIComponent(match[1]) : null;
    if (threadId !== this.chat.threadId || !threadId) this.chat.open(threadId);
    if (!threadId) this.chat.focusComposer();
  }

  onThreadDeleted(id) {
    if (this.chat.threadId === id) location.hash = "#/chat";
  }

  async signOut(notice) {
    await api.logout();
    this.store.reset();
    showAuth(notice || "You have signed out.");
  }
}

async function showApp() {
  if (shell) {
    shell.destroy();
    shell = null;
  }
  try {
    // The org, role and rights of this session, which the shell and the pages show.
    await profile.refresh();
  } catch (err) {
    if (err.status === 401 || !session.get()) {
      session.clear();
      showAuth("Your session has ended. Please sign in again.");
      return;
    }
  }
  shell = new Shell();
  clear(root).append(shell.el);
  api.startRefreshTimer();
  shell.start();
}

/** Move the session to another organisation: a new token pair, and the app rebuilt around it. */
async function switchOrg(orgId) {
  // The socket goes first: the server ends the old session, and the socket must not try to refresh it.
  if (shell) {
    shell.destroy();
    shell = null;
  }
  try {
    session.set(await api.post("/auth/switch-org", { org_id: orgId }), { newSignIn: true });
  } catch (err) {
    announce(`Could not switch organisation: ${err.message}`);
  }
  await showApp();
}

/** After leaving an organisation its session is over: sign in again (to another org, or a new one). */
function leftOrg(orgName) {
  if (shell) {
    shell.destroy();
    shell = null;
  }
  session.clear();
  showAuth(`You left ${orgName || "the organisation"}. Sign in to continue.`);
}

/** A page opened from a mailed link: join an organisation, or choose a new password. */
function showLink(link) {
  if (shell) {
    shell.destroy();
    shell = null;
  }
  if (link.kind === "join") {
    document.title = "Join · Spendpilot";
    clear(root).append(joinView(link.token, { onJoined: () => showApp(), onSignIn: (notice) => showAuth(notice) }));
  } else {
    document.title = "New password · Spendpilot";
    clear(root).append(
      resetView(link.token, {
        onDone: (notice) => {
          // Every session of the account ended with the reset, this tab's too.
          session.clear();
          showAuth(notice);
        },
      }),
    );
  }
}

async function boot() {
  // A mailed link opened in a tab already showing Spendpilot changes only the fragment.
  window.addEventListener("hashchange", () => {
    const link = takeLink();
    if (link) showLink(link);
  });
  session.onChange((current) => {
    if (!current && shell) showAuth("Your session has ended. Please sign in again.");
  });
  if (location.hash.startsWith("#/oauth")) {
    // The OAuth callback redirected here; the tokens wait server-side behind a one-time cookie.
    history.replaceState(null, "", "#/chat");
    try {
      await api.completeOAuth();
    } catch (err) {
      showAuth(`Sign-in with the provider failed: ${err.message}`);
      return;
    }
  } else if (session.load() && !(await session.claim())) {
    // A copy of a signed-in tab: let the original keep its session, untouched.
    session.clear();
    showAuth("This tab is a copy of another signed-in tab. Sign in here to use it on its own.");
    return;
  }
  const link = takeLink();
  if (link) {
    showLink(link);
    return;
  }
  if (!session.get()) {
    showAuth();
    return;
  }
  // Validates the stored session (refreshing it when needed) and picks up profile changes.
  await showApp();
}

boot();
