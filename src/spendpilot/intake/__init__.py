"""Live usage in (SPEC §9): the OTLP/HTTP receiver and the OpenAI/Anthropic gateway, both feeding one writer.

The routers are listed in `intake.routes.ROUTERS` (mounted by server.app).
"""
