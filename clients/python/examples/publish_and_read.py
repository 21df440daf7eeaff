"""Share a certificate once, use it everywhere: the real-estate registry's system
publishes a property title through its gateway; the housing authority's system asks to
read it for a housing-eligibility check and receives the document, checked.

Environment: REGISTRY_URL, REGISTRY_TOKEN (scope publish), HOUSING_URL, HOUSING_TOKEN
(scope request), CITIZEN (the holder's national id), NUMBER (the title's number).
Prints one JSON line: the certificate, the decision and the document.
"""

import json
import os

from govchain_gateway import Gateway, GatewayError

registry = Gateway(os.environ["REGISTRY_URL"], os.environ["REGISTRY_TOKEN"])
housing = Gateway(os.environ["HOUSING_URL"], os.environ["HOUSING_TOKEN"])
number = os.environ.get("NUMBER", "苏(2024)南京市不动产权第0088888号")
deed = json.dumps({"number": number, "owner": "张伟", "area_m2": 89.5}, ensure_ascii=False).encode()

published = registry.publish(
    "property",
    number,
    os.environ["CITIZEN"],
    "2024-05-01",
    deed,
    metadata={"district": "鼓楼区", "usage": "住宅"},
)
try:
    # A second publish of the same number is the chain's refusal, with its stable name.
    registry.publish(
        "property", number, os.environ["CITIZEN"], "2024-05-01", deed,
        metadata={"district": "鼓楼区", "usage": "住宅"},
    )
    raise SystemExit("a duplicate number was published")
except GatewayError as e:
    assert e.name == "DUPLICATE_CERTIFICATE", e

decision = housing.request_access(published["certificate_id"], "housing_eligibility")
document = housing.document(decision["request"]) if decision["decision"] == "allow" else b""
print(json.dumps({
    "certificate_id": published["certificate_id"],
    "decision": decision["decision"],
    "request": decision["request"],
    "document": document.decode(),
}, ensure_ascii=False))
