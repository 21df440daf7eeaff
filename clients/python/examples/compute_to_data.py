"""Scenario 2, compute-to-data, through the departments' gateways alone: the bank may
not read a citizen's tax payment certificate, but the committee-approved ``risk-model``
runs over it on the tax bureau's node, which posts only the signed score, encrypted to
the bank; the bank's gateway checks it against genesis and decrypts it.

Environment: see scenario.py (departments: tax, bank, and the committee to deploy).
Prints one JSON line: the denied read, the job and its result.
"""

import json

from scenario import RUN, deploy, doc, gateways, month_back, national_id

gws = gateways()
code_hash = deploy(gws, "housing", "risk-model", "risk_model.wasm")
tax, bank = gws["tax"], gws["bank"]
citizen = national_id("320106", "19880314", 131)
months = [
    {"month": month_back("2026-10", i), "taxable_income": f"{21500 + (i % 3) * 400}.00", "tax_paid": f"{640 + (i % 3) * 40}.00"}
    for i in reversed(range(36))
]
number = f"苏税证〔2026〕第R{RUN}-C1号"
record = tax.publish(
    "tax-payment", number, citizen, "2026-11-02",
    doc({"number": number, "taxpayer": "张伟", "tax_kind": "个人所得税",
         "withholding_agent": "南京新华软件科技有限公司", "period": "2023-11..2026-10", "records": months}),
    metadata={"tax_kind": "个人所得税", "period": "2023-11..2026-10"},
)["certificate_id"]

read = bank.request_access(record, "credit_assessment")
job = bank.compute(record, "credit_assessment", "risk-model", "score",
                   {"application": f"NJB-PL-2026-{RUN}", "loan_amount_yuan": 1200000, "term_months": 360, "annual_rate_bps": 310})
if job["decision"] != "allow":
    raise SystemExit(f"the compute job was denied: {job}")
result = bank.compute_result(job["request"])
text = json.dumps(result["output"], ensure_ascii=False)
leaked = [s for s in ("21500", "21900", "22300", "640.00", "张伟", citizen) if s in text]
print(json.dumps({
    "read": read["decision"],
    "read_reason": read["reason"],
    "job": job["request"],
    "executor": result["executor"],
    "ok": result["ok"],
    "error": result["error"],
    "code_is_approved": result["code_hash"] == code_hash,
    "result": result["output"],
    "leaked": leaked,
}, ensure_ascii=False))
