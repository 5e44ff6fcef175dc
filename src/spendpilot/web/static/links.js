/** Pages opened from a mailed link, before or beside the signed-in app: joining an organisation through
 * an invitation (#/join/<token>) and choosing a new password (#/reset/<token>).
 *
 * The token lives in the URL fragment, which the browser never sends to a server; it is taken out of
 * the address bar as soon as the page has read it, so it does not stay in the history.
 */

import * as api from "./api.js";
import * as session from "./session.js";
import { h, clear } from "./dom.js";
import { roleLabel } from "./profile.js";

const LINK = /^#\/(join|reset)\/([A-Za-z0-9_-]{10,200})$/;

/** {kind, token} when the address is a mailed link, else null; the token is removed from the address. */
export function takeLink() {
  const match = LINK.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, "", "#/");
  return { kind: match[1], token: match[2] };
}

function card(...children) {
  return h(
    "main",
    { class: "auth-page", id: "main" },
    h("div", { class: "auth-card" }, h("div", { class: "brand brand-large" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), h("span", {}, "Spendpilot")), ...children),
  );
}

function field(id, label, attrs) {
  const input = h("input", { id, name: id, class: "input", ...attrs });
  return [h("div", { class: "field" }, h("label", { for: id, class: "label" }, label), input), input];
}

/** The invitation page: who invites whom to which org, then sign up (or accept as the signed-in user).
 * onJoined() is called once the session belongs to the org; onSignIn(notice) sends to the sign-in page. */
export function joinView(token, { onJoined, onSignIn }) {
  const body = h("div", {}, h("p", { class: "muted" }, "Checking the invitation…"));
  const view = card(h("h2", { id: "join-title" }, "Join an organisation"), body);
  const error = h("div", { class: "form-error", role: "alert", id: "join-error" });

  function fail(err) {
    clear(error).append(err.message || "Something went wrong.");
  }

  function signUpForm(invitation) {
    const [emailField, email] = field("join-email", "Email", { type: "email", value: invitation.email, readonly: true, autocomplete: "username" });
    const [nameField, name] = field("join-name", "Name (optional)", { type: "text", autocomplete: "name" });
    const [passwordField, password] = field("join-password", "Password", { type: "password", autocomplete: "new-password", required: true });
    const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", id: "join-submit" }, "Create account and join");
    const form = h("form", { class: "auth-form", "aria-labelledby": "join-title", novalidate: true }, emailField, nameField, passwordField, h("p", { class: "muted field-hint" }, "At least 8 characters; a phrase of several words is best."), error, submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clear(error);
      submit.disabled = true;
      try {
        await api.register(email.value, password.value, name.value.trim(), token);
        onJoined();
      } catch (err) {
        fail(err);
        submit.disabled = false;
        password.focus();
      }
    });
    setTimeout(() => password.focus(), 0);
    return form;
  }

  function acceptForm(invitation) {
    const signedIn = (session.get() || {}).user || {};
    const accept = h("button", { type: "button", class: "btn btn-primary btn-block", id: "join-accept" }, `Join ${invitation.org.name}`);
    accept.addEventListener("click", async () => {
      clear(error);
      accept.disabled = true;
      try {
        const pair = await api.post(`/api/org/invitations/${encodeURIComponent(token)}/accept`);
        session.set(pair, { newSignIn: true });
        onJoined();
      } catch (err) {
        fail(err);
        accept.disabled = false;
      }
    });
    return h("div", {}, h("p", {}, `You are signed in as ${signedIn.email}.`), error, accept);
  }

  api
    .postPublic("/auth/invitation", { token })
    .then((invitation) => {
      const who = invitation.invited_by ? `${invitation.invited_by} invited ` : "You are invited: ";
      clear(body).append(
        h("p", { id: "join-summary" }, who, h("strong", {}, invitation.email), " to join ", h("strong", {}, invitation.org.name), " as ", h("strong", {}, roleLabel(invitation.role).toLowerCase()), "."),
      );
      if (session.get()) body.append(acceptForm(invitation));
      else if (invitation.account_exists) {
        body.append(
          h("p", {}, "This address already has an account: sign in, then open the link again to join."),
          h("button", { type: "button", class: "btn btn-primary btn-block", onclick: () => onSignIn(`Sign in as ${invitation.email}, then open the invitation link again.`) }, "Sign in"),
        );
      } else body.append(signUpForm(invitation));
    })
    .catch((err) => {
      clear(body).append(h("p", { class: "error-text", role: "alert" }, err.status === 404 ? "This invitation has expired, was withdrawn or was already used. Ask for a new one." : `Could not read the invitation: ${err.message}`), h("button", { type: "button", class: "btn", onclick: () => onSignIn() }, "Go to sign in"));
    });
  return view;
}

/** The reset page: a new password for the account the mailed link names. onDone(notice) goes to sign-in. */
export function resetView(token, { onDone }) {
  const [passwordField, password] = field("reset-password", "New password", { type: "password", autocomplete: "new-password", required: true });
  const error = h("div", { class: "form-error", role: "alert", id: "reset-error" });
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", id: "reset-submit" }, "Set new password");
  const form = h("form", { class: "auth-form", "aria-labelledby": "reset-title", novalidate: true }, passwordField, h("p", { class: "muted field-hint" }, "At least 8 characters. Every device signed in to this account will be signed out."), error, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(error);
    submit.disabled = true;
    try {
      await api.postPublic("/auth/password-reset/confirm", { token, password: password.value });
      onDone("Your password was changed. Sign in with the new one.");
    } catch (err) {
      error.textContent = err.message || "Something went wrong.";
      submit.disabled = false;
    }
  });
  setTimeout(() => password.focus(), 0);
  return card(h("h2", { id: "reset-title" }, "Choose a new password"), form);
}
