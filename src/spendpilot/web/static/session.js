/** The signed-in session of this tab: tokens in memory, mirrored to sessionStorage.
 *
 * Why sessionStorage: a reload keeps the user signed in without spending a refresh
 * token, closing the tab ends the session, and each tab holds its own token family.
 * Sharing one rotating refresh token between tabs (localStorage) would let two tabs
 * rotate the same token at once, which the server treats as reuse and revokes the
 * whole family. Tokens never go into a URL, a cookie readable by script, or logs.
 */

const KEY = "spendpilot.session";
let current = null;
const listeners = new Set();

// "Duplicate tab" copies sessionStorage, and with it the refresh token. Two tabs rotating one
// token family would trip the server's reuse detection and sign both out, so a tab that finds
// its session already held by a live tab gives its copy up (see claim()).
const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel("spendpilot.session") : null;
if (channel) {
  channel.addEventListener("message", (event) => {
    const message = event.data || {};
    if (message.type === "probe" && current && message.holder === current.holder) {
      channel.postMessage({ type: "held", holder: message.holder });
    }
  });
}

function decodeExp(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const payload = JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
    return typeof payload.exp === "number" ? payload.exp * 1000 : null;
  } catch {
    return null;
  }
}

// getRandomValues, unlike randomUUID, also works on a plain-HTTP LAN address.
function randomId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function persist() {
  try {
    if (current) sessionStorage.setItem(KEY, JSON.stringify(current));
    else sessionStorage.removeItem(KEY);
  } catch {
    // Storage can be unavailable (private modes, quota); memory still works.
  }
}

export function load() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (saved && saved.access_token && saved.refresh_token) current = saved;
  } catch {
    current = null;
  }
  return current;
}

/** True unless another open tab already holds the session loaded from storage. */
export function claim(waitMs = 150) {
  if (!current || !channel || !current.holder) return Promise.resolve(true);
  const holder = current.holder;
  return new Promise((resolve) => {
    const onMessage = (event) => {
      if (event.data && event.data.type === "held" && event.data.holder === holder) finish(false);
    };
    const timer = setTimeout(() => finish(true), waitMs);
    function finish(free) {
      clearTimeout(timer);
      channel.removeEventListener("message", onMessage);
      resolve(free);
    }
    channel.addEventListener("message", onMessage);
    channel.postMessage({ type: "probe", holder });
  });
}

export function get() {
  return current;
}

/** Store a token pair: newSignIn after login/register/provider sign-in, not after a refresh. */
export function set(body, { newSignIn = false } = {}) {
  const expiresIn = Number(body.expires_in) || 900;
  const holder = !newSignIn && current && current.holder ? current.holder : randomId();
  current = {
    access_token: body.access_token,
    refresh_token: body.refresh_token,
    access_exp: decodeExp(body.access_token) ?? Date.now() + expiresIn * 1000,
    user: body.user || (current && current.user) || null,
    holder,
  };
  persist();
  listeners.forEach((fn) => fn(current));
}

export function setUser(user) {
  if (!current) return;
  current = { ...current, user };
  persist();
}

export function clear() {
  const had = current !== null;
  current = null;
  persist();
  if (had) listeners.forEach((fn) => fn(null));
}

/** Called with the new session after every change, or null when signed out. */
export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
