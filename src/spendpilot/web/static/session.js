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

function decodeExp(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const payload = JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
    return typeof payload.exp === "number" ? payload.exp * 1000 : null;
  } catch {
    return null;
  }
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

export function get() {
  return current;
}

/** Store a token pair from /auth/login, /auth/register or /auth/refresh. */
export function set(body, user) {
  const expiresIn = Number(body.expires_in) || 900;
  current = {
    access_token: body.access_token,
    refresh_token: body.refresh_token,
    access_exp: decodeExp(body.access_token) ?? Date.now() + expiresIn * 1000,
    user: body.user || user || (current && current.user) || null,
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
