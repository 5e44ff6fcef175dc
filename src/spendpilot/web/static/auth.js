/** Sign in, registration and the password reset request, plus buttons for configured OAuth/OIDC providers. */

import * as api from "./api.js";
import { h, clear } from "./dom.js";

export function authView({ notice, onSignedIn }) {
  // signin | register | forgot
  let mode = "signin";
  const error = h("div", { class: "form-error", role: "alert", id: "auth-error" });
  const email = h("input", { type: "email", id: "auth-email", name: "email", class: "input", autocomplete: "username", required: true });
  const password = h("input", { type: "password", id: "auth-password", name: "password", class: "input", autocomplete: "current-password", required: true, minlength: "1" });
  const name = h("input", { type: "text", id: "auth-name", name: "name", class: "input", autocomplete: "name" });
  const nameField = h("div", { class: "field", hidden: true }, h("label", { for: "auth-name", class: "label" }, "Name ", h("span", { class: "muted" }, "(optional)")), name);
  const passwordHint = h("p", { class: "muted field-hint", id: "password-hint", hidden: true }, "At least 8 characters; a phrase of several words is best.");
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", id: "auth-submit" }, "Sign in");
  const tabSignIn = h("button", { type: "button", class: "tab", "aria-pressed": "true", id: "tab-signin" }, "Sign in");
  const tabRegister = h("button", { type: "button", class: "tab", "aria-pressed": "false", id: "tab-register" }, "Create account");
  const heading = h("h2", { id: "auth-title" }, "Sign in to Spendpilot");
  const providers = h("div", { class: "providers" });
  const passwordField = h("div", { class: "field" }, h("label", { for: "auth-password", class: "label" }, "Password"), password, passwordHint);
  const forgot = h("button", { type: "button", class: "link-btn", id: "auth-forgot" }, "Forgot your password?");
  // Filled (as a notice) once a reset link was requested.
  const sent = h("div", { role: "status", id: "auth-reset-sent" });

  const form = h(
    "form",
    { class: "auth-form", "aria-labelledby": "auth-title", novalidate: true },
    nameField,
    h("div", { class: "field" }, h("label", { for: "auth-email", class: "label" }, "Email"), email),
    passwordField,
    error,
    submit,
    forgot,
    sent,
  );

  const SUBMIT_TEXT = { signin: "Sign in", register: "Create account", forgot: "Send reset link" };
  function setMode(next) {
    mode = next;
    const register = mode === "register";
    const reset = mode === "forgot";
    tabSignIn.setAttribute("aria-pressed", String(mode === "signin"));
    tabRegister.setAttribute("aria-pressed", String(register));
    heading.textContent = register ? "Create your account" : reset ? "Reset your password" : "Sign in to Spendpilot";
    submit.textContent = SUBMIT_TEXT[mode];
    passwordField.hidden = reset;
    forgot.hidden = mode !== "signin";
    clear(sent);
    nameField.hidden = !register;
    passwordHint.hidden = !register;
    password.setAttribute("autocomplete", register ? "new-password" : "current-password");
    password.setAttribute("aria-describedby", register ? "password-hint" : "");
    clear(error);
  }
  tabSignIn.addEventListener("click", () => setMode("signin"));
  tabRegister.addEventListener("click", () => setMode("register"));
  forgot.addEventListener("click", () => {
    setMode("forgot");
    email.focus();
  });

  async function requestReset() {
    if (!email.value.trim()) {
      error.textContent = "Enter the email of your account.";
      email.focus();
      return;
    }
    submit.disabled = true;
    try {
      const answer = await api.postPublic("/auth/password-reset/request", { email: email.value.trim() });
      clear(sent).append(h("p", { class: "notice" }, answer.message));
    } catch (err) {
      error.textContent = err.message || "Something went wrong.";
    } finally {
      submit.disabled = false;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(error);
    if (mode === "forgot") {
      await requestReset();
      return;
    }
    if (!email.value.trim() || !password.value) {
      error.textContent = "Enter your email and password.";
      (email.value.trim() ? password : email).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = mode === "register" ? "Creating account…" : "Signing in…";
    try {
      if (mode === "register") await api.register(email.value.trim(), password.value, name.value.trim());
      else await api.login(email.value.trim(), password.value);
      onSignedIn();
    } catch (err) {
      const messages = {
        401: "Wrong email or password.",
        409: "An account with this email already exists. Sign in instead.",
        429: "Too many attempts. Wait a moment and try again.",
      };
      error.textContent = messages[err.status] || err.message || "Something went wrong.";
      submit.disabled = false;
      submit.textContent = mode === "register" ? "Create account" : "Sign in";
      password.focus();
    }
  });

  api.providers().then((all) => {
    // Only same-site paths or http(s) URLs: never a script URL, whatever the server sends.
    const list = all.filter((p) => p && typeof p.login_url === "string" && /^(\/(?!\/)|https?:\/\/)/.test(p.login_url));
    if (!list.length) return;
    providers.append(
      h("p", { class: "divider" }, h("span", {}, "or")),
      ...list.map((p) => h("a", { class: "btn btn-block btn-provider", href: p.login_url, dataset: { provider: p.id } }, `Continue with ${p.name}`)),
    );
  });

  const view = h(
    "main",
    { class: "auth-page", id: "main" },
    h(
      "div",
      { class: "auth-card" },
      h("div", { class: "brand brand-large" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), h("span", {}, "Spendpilot")),
      h("p", { class: "muted auth-tagline" }, "See where your AI spend goes, and what to change."),
      h("div", { class: "tabs", role: "group", "aria-label": "Sign in or create an account" }, tabSignIn, tabRegister),
      heading,
      notice ? h("p", { class: "notice", role: "status" }, notice) : null,
      form,
      providers,
    ),
  );
  setTimeout(() => email.focus(), 0);
  return view;
}
