"""Chainlit peer for the comparison bench: 4 tool steps with a streamed thought each, then a streamed 800-char answer.

Run: bench/peers/.venv/bin/chainlit run bench/peers/chainlit_app.py --headless --host 127.0.0.1 --port 8000
No auth, no data layer (nothing persisted), no LLM: the same workload shape as Spendpilot's offline run on a fresh
account (supervisor, then triage, data, optimization and report, the report streamed in about four deltas).
"""

from __future__ import annotations

import json

import chainlit as cl

TOOLS = ("profile_usage", "usage_summary", "find_savings", "write_report")
# A short thought per step, streamed in three tokens: Spendpilot sends each thought as one event, so a few
# tokens keep the peer's event count close to Spendpilot's (22 events a run) without favouring either side.
THOUGHT_TOKENS = ("Checking the usage ", "this step needs ", "before the next one.")
ANSWER_CHARS = 800
# Four deltas of 200 characters, as Spendpilot's guidance report arrives in about four partial_result events.
ANSWER_CHUNK = 200
ANSWER = ("No usage data yet. Import a usage file to see where the money goes. " * 20)[:ANSWER_CHARS]


@cl.on_message
async def on_message(message: cl.Message) -> None:
    for index, tool in enumerate(TOOLS):
        async with cl.Step(name=tool, type="tool") as step:
            step.input = json.dumps({"question": message.content[:80], "step": index})
            for token in THOUGHT_TOKENS:
                await step.stream_token(token)
    answer = cl.Message(content="")
    for start in range(0, ANSWER_CHARS, ANSWER_CHUNK):
        await answer.stream_token(ANSWER[start:start + ANSWER_CHUNK])
    # send() ends the stream: the client gets the whole answer in one new_message, then task_end.
    await answer.send()
