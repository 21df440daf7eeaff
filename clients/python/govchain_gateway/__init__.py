"""Client of the govchain agency gateway (docs/design/gateway.md)."""

from .client import Gateway, GatewayError

__all__ = ["Gateway", "GatewayError"]
