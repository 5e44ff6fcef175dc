// A minimal AG-UI client for Spendpilot, on the reference client (@ag-ui/client's HttpAgent).
//
//   npm install @ag-ui/client
//   SPENDPILOT_URL=http://localhost:8000 SPENDPILOT_TOKEN=<access token> node ag-ui-client.mjs "Analyze my AI costs"
//
// Set THREAD_ID to the id it printed to continue the same conversation.
import { HttpAgent } from "@ag-ui/client";

const base = process.env.SPENDPILOT_URL ?? "http://localhost:8000";
const agent = new HttpAgent({
  url: `${base}/ag-ui`,
  headers: { Authorization: `Bearer ${process.env.SPENDPILOT_TOKEN}` },
  threadId: process.env.THREAD_ID ?? crypto.randomUUID(),
});
agent.messages = [{ id: crypto.randomUUID(), role: "user", content: process.argv[2] ?? "Analyze my AI costs" }];

const runId = crypto.randomUUID();
await agent.runAgent({ runId }, {
  onStepStartedEvent: ({ event }) => console.error(`step ${event.stepName}`),
  onToolCallStartEvent: ({ event }) => console.error(`  tool ${event.toolCallName}`),
  onTextMessageContentEvent: ({ event }) => process.stdout.write(event.delta),
  onRunErrorEvent: ({ event }) => console.error(`run failed: ${event.code}: ${event.message}`),
});

// The STATE_SNAPSHOT at the end of the run put the report in the agent's state.
const report = agent.state?.report;
if (report) {
  console.error(`thread ${agent.threadId}, run ${runId}: $${report.total_monthly_savings_usd} a month to save`);
}
