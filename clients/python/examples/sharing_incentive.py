"""Credit points make sharing pay: the housing authority's system reads certificates
and pays for each read; its ledger shows the reads, whom they paid and the balance.

Environment: HOUSING_URL, HOUSING_TOKEN (scopes request, read), CERTIFICATE (an id the
housing authority may read for housing_eligibility).
Prints one JSON line: the balance before and after, and the ledger entry of the read.
"""

import json
import os

from govchain_gateway import Gateway

housing = Gateway(os.environ["HOUSING_URL"], os.environ["HOUSING_TOKEN"])
before = housing.points()["balance"]
decision = housing.request_access(os.environ["CERTIFICATE"], "housing_eligibility")
after = housing.points()
entry = next(e for e in after["entries"] if e["audit_seq"] == decision["request"])
print(json.dumps({
    "before": before,
    "after": after["balance"],
    "paid": -entry["delta"],
    "paid_to": entry["counterparty"],
    "request": decision["request"],
}, ensure_ascii=False))
