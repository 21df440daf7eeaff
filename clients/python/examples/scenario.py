"""What the three scenario examples share: a gateway per department, the committee's
approval of a proposal through its members' gateways, and citizens' national IDs.

Environment: GOVCHAIN_GATEWAYS, a JSON object of each department's gateway,
``{"housing": {"url": "http://127.0.0.1:8545", "token": "gct_..."}, ...}``: tokens with
the scopes the examples use (read, request, publish; govern for committee members).
CONTRACTS: the folder of the built contracts (default contracts/artifacts).
RUN: a tag (letters, digits, -) in certificate and application numbers, unique per run, so
that an example can run again on the same network (default: the time).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List

from govchain_gateway import Gateway

RUN = os.environ.get("RUN") or str(int(time.time()))


def gateways() -> Dict[str, Gateway]:
    """Each department's gateway, from GOVCHAIN_GATEWAYS."""
    spec = json.loads(os.environ["GOVCHAIN_GATEWAYS"])
    return {dept: Gateway(g["url"], g["token"]) for dept, g in spec.items()}


def approve(gws: Dict[str, Gateway], proposer: str, action: Dict[str, Any], description: str) -> List[str]:
    """``proposer`` proposes ``action``; the other committee members approve it through
    their gateways while it is open. Returns the approvers; fails if it was not approved."""
    made = gws[proposer].propose(action, description)
    pid = made["proposal_id"]
    committee = gws[proposer].proposals()["committee"]
    for member in committee:
        if member == proposer or gws[proposer].proposal(pid)["status"] != "OPEN":
            continue
        gws[member].vote(pid, True)
    p = gws[proposer].proposal(pid)
    if p["status"] != "APPROVED":
        raise SystemExit(f"proposal {pid} ({description}) was not approved: {p}")
    return p["approvals"]


def deploy(gws: Dict[str, Gateway], proposer: str, name: str, artifact: str) -> str:
    """Deploys contract ``name`` from ``artifact`` (a .wasm in CONTRACTS) unless that code
    is deployed already; its SM3 code hash."""
    wasm = (Path(os.environ.get("CONTRACTS", "contracts/artifacts")) / artifact).read_bytes()
    code_hash = hashlib.new("sm3", wasm).hexdigest()
    done = gws[proposer].proposals(all=True)["proposals"]
    if not any(p["contract"] == name and p["code_hash"] == code_hash and p["status"] == "APPROVED" for p in done):
        action = {"deploy_contract": {"name": name, "code": base64.b64encode(wasm).decode()}}
        approve(gws, proposer, action, f"deploy {name}")
    return code_hash


def national_id(area: str, birth: str, seq: int) -> str:
    """A national ID (GB 11643) with its check digit."""
    body = f"{area}{birth}{seq % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(c) * w for c, w in zip(body, weights))
    return body + "10X98765432"[total % 11]


def month_back(ym: str, back: int) -> str:
    """The month ``back`` months before ``ym`` (YYYY-MM)."""
    y, m = (int(x) for x in ym.split("-"))
    total = y * 12 + m - 1 - back
    return f"{total // 12}-{total % 12 + 1:02d}"


def doc(value: Any) -> bytes:
    """A certificate's document: JSON, UTF-8."""
    return json.dumps(value, ensure_ascii=False).encode()
