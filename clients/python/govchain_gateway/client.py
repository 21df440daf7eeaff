"""A typed client of a department's govchain gateway, on the standard library only.

Calls that write send an ``Idempotency-Key`` and are retried with it after a network
failure or a 503, so a retry never acts twice; a ``202`` (sent, not yet committed) is
polled at ``/v1/operations/<key>`` until the answer is known.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, Dict, List, Mapping, Optional

JSON = Dict[str, Any]


class GatewayError(Exception):
    """A refusal or failure, as the gateway's RFC 9457 problem details say it."""

    def __init__(self, status: int, problem: Mapping[str, Any]):
        self.status = status
        self.name: str = str(problem.get("name", "INTERNAL"))
        self.code: int = int(problem.get("code", 9001))
        self.detail: str = str(problem.get("detail", ""))
        self.problem = dict(problem)
        super().__init__(f"{status} {self.name} ({self.code}): {self.detail}")


class Gateway:
    """A department's gateway at ``base_url``, called with API ``token``.

    ``ca_file``: the CA that signed the gateway's TLS certificate (https only).
    ``retries``: how often a call is sent again after a network failure or a 503.
    ``wait``: how long, in seconds, a 202 is polled before giving up.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        ca_file: Optional[str] = None,
        timeout: float = 90.0,
        retries: int = 3,
        wait: float = 300.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.wait = wait
        self._ssl = ssl.create_default_context(cafile=ca_file) if ca_file else None

    # -- transport ---------------------------------------------------------------

    def _send(self, method: str, path: str, body: Optional[JSON], key: Optional[str]):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if key is not None:
            req.add_header("Idempotency-Key", key)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._ssl) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                problem = json.loads(raw)
            except ValueError:
                problem = {"detail": raw.decode(errors="replace")}
            return e.code, problem

    def _call(self, method: str, path: str, body: Optional[JSON] = None, key: Optional[str] = None) -> JSON:
        writes = method != "GET"
        if writes and key is None:
            key = str(uuid.uuid4())
        attempt = 0
        while True:
            try:
                status, answer = self._send(method, path, body, key)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                # Unknown whether it arrived: the same key makes sending it again safe.
                if attempt >= self.retries:
                    raise
                attempt += 1
                time.sleep(0.5 * attempt)
                continue
            if status == 503 and attempt < self.retries:
                attempt += 1
                time.sleep(0.5 * attempt)
                continue
            if status == 409 and answer.get("name") == "BUSY" and writes and attempt < self.retries:
                # The same key is being worked on (an earlier attempt of this call).
                attempt += 1
                time.sleep(0.5 * attempt)
                continue
            if status == 202:
                return self._poll(answer["operation"])
            if status >= 400:
                raise GatewayError(status, answer)
            return answer

    def _poll(self, operation: str) -> JSON:
        deadline = time.monotonic() + self.wait
        path = "/v1/operations/" + urllib.parse.quote(operation, safe="")
        while True:
            status, answer = self._send("GET", path, None, None)
            if status >= 400:
                raise GatewayError(status, answer)
            if status != 202:
                return answer
            if time.monotonic() >= deadline:
                raise GatewayError(504, {"name": "TIMEOUT", "code": 9003, "detail": f"operation {operation} still pending"})
            time.sleep(1.0)

    # -- the API -----------------------------------------------------------------

    def status(self) -> JSON:
        """Chain, node, height; this gateway's department and the token's operator."""
        return self._call("GET", "/v1/status")

    def certificate_types(self) -> List[JSON]:
        """The certificate types on chain with their metadata fields."""
        return self._call("GET", "/v1/certificate-types")["certificate_types"]

    def publish(
        self,
        cert_type: str,
        number: str,
        subject_national_id: str,
        issued_on: str,
        document: bytes,
        *,
        expires_on: str = "",
        metadata: Optional[Mapping[str, str]] = None,
        key: Optional[str] = None,
    ) -> JSON:
        """Seals and publishes a certificate (scope publish): ``certificate_id``."""
        body = {
            "type": cert_type,
            "number": number,
            "subject_national_id": subject_national_id,
            "issued_on": issued_on,
            "expires_on": expires_on,
            "metadata": dict(metadata or {}),
            "document": base64.b64encode(document).decode(),
        }
        return self._call("POST", "/v1/certificates", body, key)

    def certificate(self, certificate_id: str) -> JSON:
        """A certificate's record (scope read)."""
        return self._call("GET", "/v1/certificates/" + urllib.parse.quote(certificate_id, safe=""))

    def certificates(self, *, subject_national_id: str = "", cert_type: str = "", issuer: str = "") -> List[JSON]:
        """Certificates' records of a citizen (hashed in the gateway), a type or an issuer."""
        q = {k: v for k, v in {"subject_national_id": subject_national_id, "type": cert_type, "issuer": issuer}.items() if v}
        out: List[JSON] = []
        after = ""
        while True:
            page = self._call("GET", "/v1/certificates?" + urllib.parse.urlencode({**q, **({"after": after} if after else {})}))
            out.extend(page["certificates"])
            after = page.get("next", "")
            if not after:
                return out

    def request_access(self, certificate_id: str, purpose: str, *, key: Optional[str] = None) -> JSON:
        """Asks to read a certificate (scope request): the gate's decision and request number."""
        return self._call("POST", "/v1/access-requests", {"certificate_id": certificate_id, "purpose": purpose}, key)

    def document(self, request: int, *, wait_ms: int = 60000) -> bytes:
        """The document of an allowed request of this token's operator (shares combined and checked)."""
        answer = self._call("GET", f"/v1/access-requests/{int(request)}/document?wait_ms={int(wait_ms)}")
        return base64.b64decode(answer["document"])

    def grant(self, certificate_id: str, grantee: str, purpose: str, *, until_date: str = "", key: Optional[str] = None) -> JSON:
        """Grants a department access to one of this department's certificates (scope publish)."""
        body = {"grantee": grantee, "purpose": purpose, "until_date": until_date}
        return self._call("POST", f"/v1/certificates/{urllib.parse.quote(certificate_id, safe='')}/grants", body, key)

    def revoke(self, certificate_id: str, reason: str, *, grant_id: int = 0, key: Optional[str] = None) -> JSON:
        """Revokes a certificate, or one of its grants (scope publish)."""
        body = {"grant_id": grant_id, "reason": reason}
        return self._call("POST", f"/v1/certificates/{urllib.parse.quote(certificate_id, safe='')}/revocation", body, key)

    def points(self) -> JSON:
        """The department's balance and its whole ledger (scope read)."""
        first = self._call("GET", "/v1/points")
        entries = list(first["entries"])
        after = first.get("next", 0)
        while after:
            page = self._call("GET", f"/v1/points?after={int(after)}")
            entries.extend(page["entries"])
            after = page.get("next", 0)
        return {**first, "entries": entries, "next": 0}

    def audit(self, *, role: str = "", purpose: str = "", decision: str = "") -> List[JSON]:
        """The department's audit records, as requester or owner (scope read)."""
        q = {k: v for k, v in {"role": role, "purpose": purpose, "decision": decision}.items() if v}
        return self._call("GET", "/v1/audit?" + urllib.parse.urlencode(q))["records"]

    def audit_export(self, *, role: str = "") -> JSON:
        """The same as an export file with proofs, checked against genesis by the gateway."""
        return self._call("GET", "/v1/audit/export" + (f"?role={role}" if role else ""))

    def call(self, contract: str, method: str, args: Any = None, *, gas_limit: int = 0, key: Optional[str] = None) -> JSON:
        """Calls a contract as this department (scope publish): ``output``, ``gas_used``."""
        body = {"method": method, "args": args, "gas_limit": gas_limit}
        return self._call("POST", f"/v1/contracts/{urllib.parse.quote(contract, safe='')}/calls", body, key)

    def query(self, contract: str, method: str, args: Any = None) -> Any:
        """A contract's read-only answer (scope read)."""
        body = {"method": method, "args": args}
        return self._call("POST", f"/v1/contracts/{urllib.parse.quote(contract, safe='')}/queries", body)["output"]

    def compute(self, certificate_id: str, purpose: str, contract: str, method: str, args: Any = None, *, key: Optional[str] = None) -> JSON:
        """Asks for an approved contract's job over a certificate, run on its owner's node
        (scope request): the gate's decision and the job's request number."""
        body = {"certificate_id": certificate_id, "purpose": purpose, "contract": contract, "method": method, "args": args}
        return self._call("POST", "/v1/compute-jobs", body, key)

    def compute_result(self, request: int, *, wait_ms: int = 60000) -> JSON:
        """A compute job's result, checked against genesis and decrypted (scope request)."""
        return self._call("GET", f"/v1/compute-jobs/{int(request)}/result?wait_ms={int(wait_ms)}")

    def propose(self, action: JSON, description: str, *, voting_period: int = 0, key: Optional[str] = None) -> JSON:
        """Proposes as the department (scope govern): ``action`` is one of
        ``{"deploy_contract": {"name", "code" (base64)}}``, ``{"policy": {"add", "remove"}}``,
        ``{"cert_type": {...}}``, ``{"purpose": {...}}``, ``{"adjust_points": {...}}``.
        Returns ``proposal_id``."""
        body = {"action": action, "description": description, "voting_period": voting_period}
        return self._call("POST", "/v1/proposals", body, key)

    def vote(self, proposal_id: int, approve: bool = True, *, key: Optional[str] = None) -> JSON:
        """The department's vote on a proposal (scope govern)."""
        return self._call("POST", f"/v1/proposals/{int(proposal_id)}/votes", {"approve": approve}, key)

    def proposal(self, proposal_id: int) -> JSON:
        """A proposal: its status, approvals and rejections (scope read)."""
        return self._call("GET", f"/v1/proposals/{int(proposal_id)}")

    def policy(self) -> List[str]:
        """The access policy's lines in force (scope read)."""
        return self._call("GET", "/v1/policy")["lines"]

    def proposals(self, *, all: bool = False) -> JSON:
        """The committee, the approvals a proposal needs, and the open proposals (or all)."""
        return self._call("GET", "/v1/proposals" + ("?all=true" if all else ""))

    def create_webhook(self, url: str, secret: str, *, events: Optional[List[str]] = None, ca_pem: str = "") -> JSON:
        """Registers a webhook (scope admin): the events of blocks from now on are POSTed
        to ``url``, signed under ``secret`` (check them with ``verify_webhook``)."""
        body: JSON = {"url": url, "secret": secret, "events": events or []}
        if ca_pem:
            body["ca_pem"] = ca_pem
        return self._call("POST", "/v1/webhooks", body)

    def webhooks(self) -> List[JSON]:
        """The gateway's webhooks (scope admin)."""
        return self._call("GET", "/v1/webhooks")["webhooks"]

    def webhook_deliveries(self, webhook: str, *, after: int = 0) -> List[JSON]:
        """A webhook's delivery log, oldest first: every attempt with its status."""
        path = f"/v1/webhooks/{urllib.parse.quote(webhook, safe='')}/deliveries?after={after}"
        return self._call("GET", path)["deliveries"]

    def remove_webhook(self, webhook: str) -> JSON:
        """Removes a webhook: nothing more is delivered to it."""
        return self._call("DELETE", "/v1/webhooks/" + urllib.parse.quote(webhook, safe=""))
