"""Scenario 1, housing purchase eligibility (购房资格证明), through the departments'
gateways alone: the committee deploys ``housing-eligibility``; six departments publish
the family's certificates; the housing authority opens the application; each department
attests its own part; the contract reads the cited certificates through the gate and
decides; the housing authority issues the eligibility certificate, and the bank reads it
for a mortgage review.

Environment: see scenario.py (departments: housing, public-security, civil-affairs,
real-estate, tax, social-security, bank).
Prints one JSON line: the decision, the eligibility certificate and what the bank read.
"""

import json

from scenario import RUN, approve, deploy, doc, gateways, month_back, national_id

gws = gateways()
deploy(gws, "housing", "housing-eligibility", "housing_eligibility.wasm")
zhang = national_id("320106", "19880314", 131)
li = national_id("320104", "19900722", 262)


def publish(dept, cert_type, holder, number, issued_on, metadata, document):
    """``dept`` publishes a certificate; its record (with the holder's subject id)."""
    made = gws[dept].publish(cert_type, number, holder, issued_on, doc(document), metadata=metadata)
    return gws[dept].certificate(made["certificate_id"])


months = [
    {"month": month_back("2026-10", i), "taxable_income": f"{21500 + (i % 3) * 400}.00", "tax_paid": f"{640 + (i % 3) * 40}.00"}
    for i in reversed(range(36))
]
household = publish("public-security", "household", zhang, f"宁公户〔2026〕R{RUN}-01号", "2026-03-02",
                    {"registration_district": "320106", "household_type": "family"},
                    {"name": "张伟", "address": "南京市鼓楼区中山北路 208 号", "relation": "户主"})
marriage = publish("civil-affairs", "marriage", zhang, f"J320106-2016-R{RUN}", "2016-05-20",
                   {"registration_office": "南京市鼓楼区民政局婚姻登记处", "record_kind": "marriage"},
                   {"spouses": ["张伟", "李娜"], "registered_on": "2016-05-20"})
title = publish("real-estate", "property", li, f"苏(2019)南京市不动产权第R{RUN}-01号", "2019-08-16",
                {"district": "秦淮区", "usage": "住宅", "ownership": "joint"},
                {"location": "南京市秦淮区龙蟠中路 329 号", "area_m2": "98.62", "holders": ["李娜", "张伟"]})
loan = publish("bank", "mortgage", li, f"NJB-HL-2019-R{RUN}", "2019-09-01", {"loan_kind": "商业"},
               {"borrower": "李娜", "outstanding_yuan": "1036500.00", "term_months": 360})
tax = publish("tax", "tax-payment", zhang, f"苏税证〔2026〕第R{RUN}-H1号", "2026-11-02",
              {"tax_kind": "个人所得税", "period": "2023-11..2026-10"},
              {"taxpayer": "张伟", "period": "2023-11..2026-10", "records": months})
social = publish("social-security", "social-insurance", zhang, f"宁社保证〔2026〕R{RUN}-01号", "2026-11-03",
                 {"insurance_kind": "养老", "period": "2023-11..2026-10"},
                 {"insured": "张伟", "months_paid": 36})

application = f"NJZF-2026-R{RUN}"
housing = gws["housing"]
housing.call("housing-eligibility", "open",
             {"application": application, "subject_id": household["subject_id"], "district": "320106"})
attestations = {
    "public-security": {"kind": "household", "certificate": household["id"], "registration_district": "320106", "local": True},
    "civil-affairs": {"kind": "marital_status", "certificate": marriage["id"], "status": "married", "spouse_subject_id": title["subject_id"]},
    "real-estate": {"kind": "homes_owned", "certificates": [title["id"]], "count": 1},
    "tax": {"kind": "tax_record", "certificate": tax["id"], "months_paid_last_36": 36},
    "social-security": {"kind": "social_insurance", "certificate": social["id"], "months_paid_last_36": 36},
    "housing": {"kind": "purchase_rules", "rules_document": "宁房规〔2025〕2号", "local_max_homes": 2, "nonlocal_max_homes": 1, "nonlocal_min_months": 24},
    "bank": {"kind": "outstanding_loans", "certificates": [loan["id"]], "count": 1},
}
for dept, attestation in attestations.items():
    gws[dept].call("housing-eligibility", "attest", {"application": application, "attestation": attestation})
decision = housing.call("housing-eligibility", "decide", {"application": application}, gas_limit=1_000_000_000)["output"]
if not decision.get("eligible"):
    raise SystemExit(f"expected eligible: {decision}")

number = decision["certificate"]["number"]
issued = housing.publish(
    "housing-eligibility", number, zhang, decision["decided_on"],
    doc({"number": number, "holder": "张伟", "spouse": "李娜", "district": "鼓楼区",
         "homes_allowed": decision["homes_allowed"], "valid_until": decision["certificate"]["valid_until"],
         "application": application, "basis_audit_records": decision["audit_seqs"]}),
    metadata={"district": "320106", "homes_allowed": str(decision["homes_allowed"])},
)
bank = gws["bank"]
read = bank.request_access(issued["certificate_id"], "mortgage_review")
opened = json.loads(bank.document(read["request"])) if read["decision"] == "allow" else {}
print(json.dumps({
    "application": application,
    "eligible": decision["eligible"],
    "homes_allowed": decision["homes_allowed"],
    "reads": len(decision["audit_seqs"]),
    "certificate": number,
    "bank_decision": read["decision"],
    "bank_opened": opened.get("number"),
}, ensure_ascii=False))
