"""The MCP server (official SDK, low-level Server): the interop tools, listed with their JSON Schemas and called.

Over HTTP it runs stateless with JSON answers: every request carries its own bearer credential and
needs nothing from an earlier one, so any API instance of a split deployment can answer any
request, without sticky sessions. The caller was authenticated by the /mcp route before the
request reached the SDK; the handlers read it, and the services, off the HTTP request.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

import mcp_types as types
import orjson
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from spendpilot import __version__
from spendpilot.errors import AppError
from spendpilot.interop.callers import caller_of
from spendpilot.interop.tools import InteropTool, interop_tools
from spendpilot.logs import get_logger
from spendpilot.services import Services

log = get_logger(__name__)

SERVER_NAME = "spendpilot"
INSTRUCTIONS = ("Spendpilot measures this organisation's LLM spend from its recorded usage. Every figure comes "
                "from a query over that usage; dates are whole UTC days (YYYY-MM-DD), and a missing 'from' or "
                "'to' means as far as the stored usage goes. Start with spend_overview or analyze_costs.")
_READ_ONLY = types.ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                   open_world_hint=False)


def tool_listing(tool: InteropTool) -> types.Tool:
    return types.Tool(name=tool.name, title=tool.title, description=tool.description,
                      input_schema=tool.input_schema(), annotations=_READ_ONLY)


def plain_json(value: Any) -> Any:
    """A tool's result as JSON values (dates as ISO strings), exactly as the REST API would encode it."""
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY))


def _result(value: Any) -> types.CallToolResult:
    shown = plain_json(value)
    # structuredContent is an object before protocol 2026-07-28; a list travels under "items".
    structured = shown if isinstance(shown, dict) else {"items": shown}
    text = shown.get("final_response") if isinstance(shown, dict) and "final_response" in shown else None
    content = [types.TextContent(text=orjson.dumps(shown).decode())]
    if text:
        content.insert(0, types.TextContent(text=text))
    return types.CallToolResult(content=content, structured_content=structured)


def _refused(message: str) -> types.CallToolResult:
    """A tool-level error: the calling model reads it and may correct its arguments (MCP's advice)."""
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def _invalid(exc: ValidationError) -> str:
    problems = [f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()[:5]]
    return "invalid arguments: " + "; ".join(problems)


async def call(services: Services, org_id: str, name: str, arguments: dict | None) -> types.CallToolResult:
    tool = interop_tools().get(name)
    if tool is None:
        raise MCPError(types.INVALID_PARAMS, f"unknown tool: {name}")
    try:
        args = tool.arguments.model_validate(arguments or {})
    except ValidationError as exc:
        return _refused(_invalid(exc))
    try:
        return _result(await tool.run(services, org_id, args))
    except ValidationError as exc:
        return _refused(_invalid(exc))
    except AppError as exc:
        return _refused(exc.message)
    except (ValueError, LookupError) as exc:
        return _refused(str(exc))
    except Exception as exc:
        log.error("mcp_tool_failed", tool=name, error_type=type(exc).__name__)
        return _refused("the tool failed on the server; try again, or ask the operator to check the logs")


def build_server() -> Server:
    async def list_tools(ctx: Any, _params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool_listing(tool) for tool in interop_tools().values()])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        caller = caller_of(ctx.request)
        services: Services = ctx.request.app.state.services
        return await call(services, caller.org_id, params.name, params.arguments)

    return Server(SERVER_NAME, version=__version__, title="Spendpilot", instructions=INSTRUCTIONS,
                  on_list_tools=list_tools, on_call_tool=call_tool)


class McpEndpoint:
    """The Streamable HTTP side of the server: one per app, running for the app's lifetime."""

    def __init__(self) -> None:
        self.server = build_server()
        self.manager = StreamableHTTPSessionManager(app=self.server, stateless=True, json_response=True)

    def running(self) -> AbstractAsyncContextManager[None]:
        return self.manager.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.manager.handle_request(scope, receive, send)
