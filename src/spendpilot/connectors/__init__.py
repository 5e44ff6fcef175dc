"""Connectors pull providers' usage and cost APIs into llm_usage on a schedule (see service.py).

KINDS (providers.py) lists the providers a connector can pull; adding one is a ConnectorKind with its
reports, each read by an import format of analytics/importers.
"""

from .providers import KINDS
from .service import ConnectorService

__all__ = ["KINDS", "ConnectorService"]
