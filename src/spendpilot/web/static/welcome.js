/** The empty chat: suggested questions, and a pointer to the usage import when there is no data. */

import * as api from "./api.js";
import { h } from "./dom.js";
import { can } from "./profile.js";

const SUGGESTIONS = [
  "Analyze my AI costs",
  "Which models could we swap for cheaper ones?",
  "Are we wasting money on retries or errors?",
  "How much would prompt caching save?",
];

/** onAsk(text) sends a suggested question. */
export function welcomeView({ onAsk }) {
  const dataNote = h("p", { class: "muted welcome-data" });
  api.get("/api/usage/summary").then(
    (summary) => {
      if (!summary || !Number(summary.total_requests)) {
        dataNote.classList.add("notice");
        if (can("usage.import")) dataNote.append("No usage data yet. ", h("a", { href: "#/usage" }, "Import a usage file"), " (CSV, JSONL, OpenAI or Anthropic export, OpenTelemetry) so the agents have something to analyze.");
        else dataNote.append("No usage data yet. An analyst or an admin of your organisation can import it.");
      } else {
        dataNote.append(`${Number(summary.total_requests).toLocaleString()} requests of usage data are ready to analyze. `, h("a", { href: "#/usage" }, "See usage"));
      }
    },
    () => {
      // The summary is a hint only; the chat works without it.
    },
  );
  return h(
    "div",
    { class: "welcome" },
    h("h3", {}, "What would you like to know about your AI spend?"),
    h("p", { class: "muted" }, "The agents read your usage data, find waste and answer with a report you can act on. You can watch every step as it happens."),
    h(
      "div",
      { class: "suggestions", role: "group", "aria-label": "Suggested questions" },
      SUGGESTIONS.map((text) => h("button", { type: "button", class: "chip-btn", onclick: () => onAsk(text) }, text)),
    ),
    dataNote,
  );
}
