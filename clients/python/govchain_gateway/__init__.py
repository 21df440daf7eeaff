"""Client of the govchain agency gateway (docs/design/gateway.md)."""

from .client import Gateway, GatewayError
from .webhooks import verify_webhook

__all__ = ["Gateway", "GatewayError", "verify_webhook"]
