"""Checking a webhook delivery from a govchain gateway.

Each delivery is a POST of a JSON event with the headers ``govchain-event-id``,
``govchain-timestamp`` (Unix seconds) and ``govchain-signature``:
``hmac-sm3=`` and the hex of HMAC-SM3(secret, id "." timestamp "." body). Python's
``hmac`` computes SM3 through OpenSSL (``hashlib.new("sm3")``).
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any, Dict, Mapping, Optional


def signature(secret: str, event_id: str, timestamp: str, body: bytes) -> str:
    """The signature header a delivery of ``body`` carries."""
    msg = event_id.encode() + b"." + timestamp.encode() + b"." + body
    return "hmac-sm3=" + hmac.new(secret.encode(), msg, "sm3").hexdigest()


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = 300.0,
) -> Optional[Dict[str, Any]]:
    """The event of a delivery whose signature checks under ``secret`` and whose
    timestamp is within ``tolerance`` seconds of now; ``None`` otherwise (refuse it).

    ``headers``: the request's headers (any case). Deliveries are retried, so the same
    event can arrive again: its ``id`` tells.
    """
    h = {k.lower(): v for k, v in headers.items()}
    event_id = h.get("govchain-event-id", "")
    timestamp = h.get("govchain-timestamp", "")
    given = h.get("govchain-signature", "")
    if not (event_id and timestamp.isdigit() and given):
        return None
    if abs(time.time() - int(timestamp)) > tolerance:
        return None
    if not hmac.compare_digest(given, signature(secret, event_id, timestamp, body)):
        return None
    event: Dict[str, Any] = json.loads(body)
    return event if event.get("id") == event_id else None
