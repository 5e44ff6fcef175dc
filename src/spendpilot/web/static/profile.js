/** Who is signed in, in which organisation, with which role and rights there (GET /auth/me).
 *
 * The server decides every right on every request; the app only reads them to show the
 * controls a role can use. A role changed by an admin shows at the next refresh().
 */

import * as api from "./api.js";
import * as session from "./session.js";

const ROLE_LABELS = { admin: "Admin", analyst: "Analyst", viewer: "Viewer" };

export function current() {
  return (session.get() || {}).user || {};
}

/** True when the signed-in role may take `action` (an action of auth/permissions.py). */
export function can(action) {
  return (current().permissions || []).includes(action);
}

export function roleLabel(role) {
  return ROLE_LABELS[role] || String(role || "");
}

/** Reload the profile from the server; returns it. */
export async function refresh() {
  const me = await api.get("/auth/me");
  if (me) session.setUser(me);
  return me;
}
