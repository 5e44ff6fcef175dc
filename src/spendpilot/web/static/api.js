/** HTTP client: bearer auth on every /api call, token refresh before expiry, JSON errors. */

import * as session from "./session.js";

const REFRESH_MARGIN_MS = 60_000;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || `http_${status}`;
  }
}

async function parseError(response) {
  let code = `http_${response.status}`;
  let message = response.statusText || "Request failed";
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    } else if (body && typeof body.detail === "string") {
      message = body.detail;
    } else if (body && Array.isArray(body.detail) && body.detail[0]) {
      message = body.detail[0].msg || message;
    }
  } catch {
    // Not JSON: keep the status text.
  }
  return new ApiError(response.status, code, message);
}

async function postJson(path, body, token) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  if (!response.ok) throw await parseError(response);
  return response.status === 204 ? null : response.json();
}

let refreshing = null;
let refreshTimer = null;

/** Rotate the token pair. Concurrent callers share one request. */
export function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      const current = session.get();
      if (!current) throw new ApiError(401, "signed_out", "Not signed in");
      try {
        const body = await postJson("/auth/refresh", { refresh_token: current.refresh_token });
        session.set(body);
      } catch (err) {
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
          session.clear();
        }
        throw err;
      }
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/** A valid access token, refreshed first when it is about to expire. */
export async function accessToken() {
  const current = session.get();
  if (!current) throw new ApiError(401, "signed_out", "Not signed in");
  if (current.access_exp - Date.now() < REFRESH_MARGIN_MS) await refresh();
  return session.get().access_token;
}

function scheduleRefresh(current) {
  clearTimeout(refreshTimer);
  if (!current) return;
  const wait = Math.max(5_000, current.access_exp - Date.now() - REFRESH_MARGIN_MS);
  refreshTimer = setTimeout(() => {
    refresh().catch(() => {
      // A failed refresh clears the session when the server refused it; a network
      // failure is retried by the next call that needs a token.
    });
  }, wait);
}
session.onChange(scheduleRefresh);

export function startRefreshTimer() {
  scheduleRefresh(session.get());
}

export async function request(method, path, { json, headers = {}, retry = true } = {}) {
  const token = await accessToken();
  const init = { method, headers: { Accept: "application/json", ...headers } };
  init.headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  const response = await fetch(path, init);
  if (response.status === 401 && retry) {
    await refresh();
    return request(method, path, { json, headers, retry: false });
  }
  if (!response.ok) throw await parseError(response);
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const get = (path) => request("GET", path);
export const post = (path, json) => request("POST", path, { json: json ?? {} });
export const patch = (path, json) => request("PATCH", path, { json });
export const del = (path) => request("DELETE", path);

/** Fetch a file the server offers as an attachment and hand it to the browser as a download. */
export async function download(path, fallbackName) {
  const token = await accessToken();
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) throw await parseError(response);
  const disposition = response.headers.get("content-disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = match ? match[1] : fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return link.download;
}

/** Lists may come bare or wrapped ({items: [...]}, {threads: [...]}). */
export function asList(body, key) {
  if (Array.isArray(body)) return body;
  if (body && Array.isArray(body[key])) return body[key];
  if (body && Array.isArray(body.items)) return body.items;
  if (body && Array.isArray(body.data)) return body.data;
  return [];
}

export async function login(email, password) {
  const body = await postJson("/auth/login", { email, password });
  session.set(body, { newSignIn: true });
  return body;
}

/** A call that needs no session: invitation preview, password reset. */
export function postPublic(path, body) {
  return postJson(path, body);
}

/** Create an account; with an invitation token it joins that organisation instead of getting its own. */
export async function register(email, password, name, invitation) {
  const payload = { email, password };
  if (name) payload.name = name;
  if (invitation) payload.invitation = invitation;
  const body = await postJson("/auth/register", payload);
  session.set(body, { newSignIn: true });
  return body;
}

/** Hand-over after an OAuth callback: the server keeps the tokens behind an
 * HttpOnly one-time cookie and gives them to the page once, never in a URL. */
export async function completeOAuth() {
  const response = await fetch("/auth/oauth/session", {
    method: "POST",
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (!response.ok) throw await parseError(response);
  const body = await response.json();
  session.set(body, { newSignIn: true });
  return body;
}

export async function providers() {
  const response = await fetch("/auth/providers", { headers: { Accept: "application/json" } });
  if (!response.ok) return [];
  return asList(await response.json(), "providers");
}

export async function logout() {
  const current = session.get();
  clearTimeout(refreshTimer);
  if (current) {
    try {
      await postJson("/auth/logout", { refresh_token: current.refresh_token }, current.access_token);
    } catch {
      // Signing out locally matters most; the refresh token expires on its own.
    }
  }
  session.clear();
}

/** Multipart upload with progress, via XHR because fetch has no upload progress. */
export async function upload(path, file, onProgress) {
  const token = await accessToken();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else {
        const error = body && body.error ? body.error : {};
        reject(new ApiError(xhr.status, error.code, error.message || xhr.statusText));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network", "Network error during upload")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "Upload cancelled")));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}
