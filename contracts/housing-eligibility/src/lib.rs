//! Housing purchase eligibility (购房资格证明) under Nanjing's purchase restriction.
//!
//! A citizen applies once at the housing authority's service window (`open`, by
//! `housing`). Seven departments then each attest their own part of the file (`attest`,
//! one transaction signed by that department): household registration (public-security),
//! marital status (civil-affairs), the family's residential titles (real-estate), local
//! tax (tax) and social insurance (social-security) months, the purchase rules in force
//! (housing) and outstanding home loans (bank). A department may correct its attestation
//! by attesting again until the application is decided.
//!
//! `decide` (by `housing`) never takes an attestation on trust: it reads every cited
//! certificate through the access gate as `housing` for purpose `housing_eligibility`
//! (paid and audited like any read), checks that each certificate says what its
//! department attested, applies the rules (认房又认贷: a home loan counts as a home) and
//! records the decision with an eligibility certificate number when eligible. The
//! housing authority then issues the `housing-eligibility` certificate on chain. The
//! contract never changes any department's data; it stores only the citizen's subject id
//! (SM3 hash), never the national ID. Dates are Beijing time (UTC+8) from the block time.

use std::collections::BTreeMap;

use govchain_sdk::{call, query, CertificateView, Context, Map};
use serde::{Deserialize, Serialize};

const APPLICATIONS: Map<String, Application> = Map::new("applications");
/// Eligibility certificate number → application.
const ISSUED: Map<String, String> = Map::new("issued");
/// Year → last eligibility certificate sequence number of that year.
const SEQUENCE: Map<u64, u64> = Map::new("sequence");
const PURPOSE: &str = "housing_eligibility";
const HOUSING: &str = "housing";
const VALID_DAYS: i64 = 180;
/// Attestation kind, attesting department, meaning (in the order they are listed).
const KINDS: [(&str, &str, &str); 7] = [
    ("household", "public-security", "household registration"),
    ("marital_status", "civil-affairs", "marital status"),
    ("homes_owned", "real-estate", "homes owned"),
    ("tax_record", "tax", "tax record"),
    ("social_insurance", "social-security", "social insurance record"),
    ("purchase_rules", "housing", "purchase rules"),
    ("outstanding_loans", "bank", "outstanding loans"),
];

/// Arguments of `open`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenApplication {
    /// Application number, 1-64 characters, e.g. `NJZF-2026-000123`.
    pub application: String,
    /// The applicant's subject id: 64 hex characters (SM3 of the national ID), never the ID.
    pub subject_id: String,
    /// 6-digit division code where the applicant wants to buy, e.g. `320106` (鼓楼区).
    pub district: String,
}

/// Marital status as attested by civil-affairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaritalStatus {
    /// Married (record kind `marriage`).
    Married,
    /// Never married (record kind `no-record`).
    Single,
    /// Divorced (record kind `divorce`).
    Divorced,
}

impl MaritalStatus {
    /// The JSON name: `married`, `single` or `divorced`.
    pub fn as_str(self) -> &'static str {
        match self {
            MaritalStatus::Married => "married",
            MaritalStatus::Single => "single",
            MaritalStatus::Divorced => "divorced",
        }
    }
}

/// One department's part of the file, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Attestation {
    /// From public-security: the household registration.
    Household {
        /// Household certificate id.
        certificate: String,
        /// Division code of the registered residence.
        registration_district: String,
        /// Whether the registration is in Nanjing (code 3201xx).
        local: bool,
    },
    /// From civil-affairs: marital status.
    MaritalStatus {
        /// Marriage record certificate id.
        certificate: String,
        /// The status.
        status: MaritalStatus,
        /// The spouse's subject id; required exactly when married.
        #[serde(default)]
        spouse_subject_id: Option<String>,
    },
    /// From real-estate: the family's residential titles.
    HomesOwned {
        /// Property title certificate ids (the applicant's and the spouse's).
        certificates: Vec<String>,
        /// Number of homes.
        count: u32,
    },
    /// From tax: local tax payment.
    TaxRecord {
        /// Tax payment certificate id.
        certificate: String,
        /// Months with tax paid in Nanjing in the last 36.
        months_paid_last_36: u32,
    },
    /// From social-security: local social insurance.
    SocialInsurance {
        /// Social insurance certificate id.
        certificate: String,
        /// Months contributed in Nanjing in the last 36.
        months_paid_last_36: u32,
    },
    /// From housing: the purchase rules in force.
    PurchaseRules {
        /// The rules document, e.g. `宁房规〔2025〕2号`.
        rules_document: String,
        /// Homes a local household may own.
        local_max_homes: u32,
        /// Homes a non-local household may own.
        nonlocal_max_homes: u32,
        /// Months of local tax or social insurance (in the last 36) a non-local household needs.
        nonlocal_min_months: u32,
    },
    /// From bank: the family's outstanding home loans.
    OutstandingLoans {
        /// Loan statement certificate ids.
        certificates: Vec<String>,
        /// Number of loans.
        count: u32,
    },
}

impl Attestation {
    /// The `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Attestation::Household { .. } => "household",
            Attestation::MaritalStatus { .. } => "marital_status",
            Attestation::HomesOwned { .. } => "homes_owned",
            Attestation::TaxRecord { .. } => "tax_record",
            Attestation::SocialInsurance { .. } => "social_insurance",
            Attestation::PurchaseRules { .. } => "purchase_rules",
            Attestation::OutstandingLoans { .. } => "outstanding_loans",
        }
    }

    /// The only department that may make this attestation.
    pub fn department(&self) -> &'static str {
        KINDS.iter().find(|k| k.0 == self.kind()).map_or("", |k| k.1)
    }
}

/// An attestation as recorded: who made it, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attested {
    /// The attestation.
    pub attestation: Attestation,
    /// The signer (`department` or `department/operator`).
    pub attested_by: String,
    /// Block height.
    pub height: u64,
    /// Block time, Unix milliseconds.
    pub time_ms: u64,
}

/// The eligibility certificate issued to an eligible applicant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EligibilityCertificate {
    /// `宁房资〔<year>〕第<6-digit sequence>号`.
    pub number: String,
    /// District the eligibility applies to.
    pub district: String,
    /// Further homes the family may buy.
    pub homes_allowed: u32,
    /// Last valid day, YYYY-MM-DD (decision date + 180 days).
    pub valid_until: String,
}

/// The outcome of `decide`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Application number.
    pub application: String,
    /// The applicant's subject id.
    pub subject_id: String,
    /// Whether the family may buy.
    pub eligible: bool,
    /// Further homes the family may buy (0 when ineligible).
    pub homes_allowed: u32,
    /// District applied for.
    pub district: String,
    /// Why the application is ineligible (empty when eligible).
    pub reasons: Vec<String>,
    /// The eligibility certificate, when eligible.
    pub certificate: Option<EligibilityCertificate>,
    /// The rules document applied.
    pub rules_document: String,
    /// Audit sequence numbers of the gate reads the decision rests on.
    pub audit_seqs: Vec<u64>,
    /// Block height of the decision.
    pub decided_height: u64,
    /// Decision date, YYYY-MM-DD.
    pub decided_on: String,
}

/// An application with its attestations (keyed by kind) and decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// Application number.
    pub application: String,
    /// The applicant's subject id (lower-case hex).
    pub subject_id: String,
    /// District applied for.
    pub district: String,
    /// Who opened it.
    pub opened_by: String,
    /// Block height of opening.
    pub opened_height: u64,
    /// Attestations by kind.
    pub attestations: BTreeMap<String, Attested>,
    /// The decision, once made.
    pub decision: Option<Decision>,
}

/// Arguments of `attest`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attest {
    /// Application number.
    pub application: String,
    /// The attestation.
    pub attestation: Attestation,
}

/// Arguments of `decide` and of the `application` query.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decide {
    /// Application number.
    pub application: String,
}

/// Arguments of the `application` query.
pub type Get = Decide;

/// Arguments of the `certificate` query.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetCertificate {
    /// Eligibility certificate number.
    pub number: String,
}

/// An issued eligibility certificate with the application behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCertificate {
    /// The certificate.
    pub certificate: EligibilityCertificate,
    /// Its application.
    pub application: Application,
}

fn require(ctx: &Context, department: &str, action: &str) -> Result<(), String> {
    match ctx.caller_department() {
        d if d == department => Ok(()),
        d => Err(format!("only {department} may {action}, not {d}")),
    }
}

fn is_subject_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_division(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit())
}

fn load(application: &str) -> Result<Application, String> {
    APPLICATIONS.get(&application.to_string())?.ok_or_else(|| format!("no application {application}"))
}

fn open_for_attestation(application: &str) -> Result<Application, String> {
    let app = load(application)?;
    if app.decision.is_some() {
        return Err(format!("application {application} is already decided"));
    }
    Ok(app)
}

/// Opens an application (housing only).
#[call]
pub fn open(ctx: &mut Context, args: OpenApplication) -> Result<Application, String> {
    require(ctx, HOUSING, "open an application")?;
    if args.application.is_empty() || args.application.chars().count() > 64 {
        return Err("application number must be 1 to 64 characters".into());
    }
    if !is_subject_id(&args.subject_id) {
        return Err("subject_id must be 64 hex characters (SM3 of the national ID), never the ID itself".into());
    }
    if !is_division(&args.district) || !args.district.starts_with("3201") {
        return Err(format!("district '{}' is not a 6-digit Nanjing division code (3201xx)", args.district));
    }
    if APPLICATIONS.has(&args.application)? {
        return Err(format!("application {} already exists", args.application));
    }
    let app = Application {
        application: args.application,
        subject_id: args.subject_id.to_ascii_lowercase(),
        district: args.district,
        opened_by: ctx.caller().to_string(),
        opened_height: ctx.height(),
        attestations: BTreeMap::new(),
        decision: None,
    };
    APPLICATIONS.set(&app.application, &app)?;
    ctx.emit("application_opened", &[("application", &app.application), ("district", &app.district)]);
    Ok(app)
}

fn validate(a: &Attestation) -> Result<(), String> {
    let kind = a.kind();
    match a {
        Attestation::Household { registration_district, .. } if !is_division(registration_district) => {
            Err(format!("household: registration_district '{registration_district}' is not a 6-digit division code"))
        }
        Attestation::MaritalStatus { status, spouse_subject_id, .. } => match (status, spouse_subject_id) {
            (MaritalStatus::Married, Some(s)) if is_subject_id(s) => Ok(()),
            (MaritalStatus::Married, _) => Err("marital_status: married requires spouse_subject_id (64 hex characters)".into()),
            (_, Some(_)) => Err("marital_status: spouse_subject_id is only for a married applicant".into()),
            _ => Ok(()),
        },
        Attestation::TaxRecord { months_paid_last_36: m, .. } | Attestation::SocialInsurance { months_paid_last_36: m, .. } if *m > 36 => {
            Err(format!("{kind}: months_paid_last_36 is {m}, at most 36"))
        }
        Attestation::PurchaseRules { rules_document, nonlocal_min_months, .. } => {
            if rules_document.trim().is_empty() {
                Err("purchase_rules: rules_document is empty".into())
            } else if *nonlocal_min_months > 36 {
                Err(format!("purchase_rules: nonlocal_min_months is {nonlocal_min_months}, at most 36"))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// Records (or corrects) the calling department's attestation.
#[call]
pub fn attest(ctx: &mut Context, args: Attest) -> Result<Application, String> {
    let (kind, dept) = (args.attestation.kind(), args.attestation.department());
    if ctx.caller_department() != dept {
        return Err(format!("a '{kind}' attestation must come from {dept}, not {}", ctx.caller_department()));
    }
    let mut app = open_for_attestation(&args.application)?;
    validate(&args.attestation)?;
    let attested = Attested { attestation: args.attestation, attested_by: ctx.caller().to_string(), height: ctx.height(), time_ms: ctx.time_ms() };
    let replaced = app.attestations.insert(kind.to_string(), attested).is_some();
    APPLICATIONS.set(&app.application, &app)?;
    ctx.emit("attested", &[("application", &app.application), ("kind", kind), ("department", dept), ("correction", &replaced.to_string())]);
    Ok(app)
}

/// Reads certificates through the gate as `housing` and checks what every department
/// must agree on; keeps the audit sequence numbers.
struct Reader<'a> {
    ctx: &'a Context,
    audit_seqs: Vec<u64>,
}

fn contradiction(dept: &str, what: String) -> String {
    format!("contradictory attestation from {dept}: {what}")
}

impl Reader<'_> {
    fn read(&mut self, id: &str, dept: &str, cert_type: &str, subjects: &[&str]) -> Result<CertificateView, String> {
        let v = self.ctx.certificate(id, PURPOSE).map_err(|e| format!("certificate {id} cited by {dept} could not be read through the access gate: {e}"))?;
        self.audit_seqs.push(v.audit_seq);
        if v.cert_type != cert_type {
            return Err(contradiction(dept, format!("certificate {} ({id}) is a '{}' certificate, not '{cert_type}'", v.number, v.cert_type)));
        }
        if v.issuer != dept {
            return Err(contradiction(dept, format!("certificate {} was issued by {}, not by {dept}", v.number, v.issuer)));
        }
        if !subjects.iter().any(|s| s.eq_ignore_ascii_case(&v.subject_id)) {
            let whose = if subjects.len() > 1 { "belongs to neither the applicant nor the attested spouse" } else { "does not belong to the applicant" };
            return Err(contradiction(dept, format!("certificate {} (field subject_id) {whose}", v.number)));
        }
        Ok(v)
    }
}

fn field<'v>(v: &'v CertificateView, name: &str, dept: &str) -> Result<&'v str, String> {
    v.metadata.get(name).map(String::as_str).ok_or_else(|| contradiction(dept, format!("certificate {} has no field '{name}'", v.number)))
}

/// Months covered by `YYYY-MM..YYYY-MM`, both ends included.
fn period_months(period: &str) -> Option<u32> {
    let month = |s: &str| -> Option<i64> {
        let (y, m) = s.split_once('-')?;
        let digits = y.len() == 4 && m.len() == 2 && y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit());
        let (y, m): (i64, i64) = (y.parse().ok().filter(|_| digits)?, m.parse().ok()?);
        (1..=12).contains(&m).then_some(y * 12 + m - 1)
    };
    let (from, to) = period.split_once("..")?;
    let n = month(to)? - month(from)? + 1;
    u32::try_from(n).ok().filter(|n| *n > 0)
}

/// Checks a list of titles or loans: the count matches, no certificate is cited twice.
fn check_list(certificates: &[String], count: u32, dept: &str, what: &str) -> Result<(), String> {
    if certificates.len() != count as usize {
        return Err(contradiction(dept, format!("count is {count} but {} {what} certificates are cited", certificates.len())));
    }
    let mut seen = certificates.to_vec();
    seen.sort();
    match seen.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(contradiction(dept, format!("certificate {} is cited twice", w[0]))),
        None => Ok(()),
    }
}

/// Decides the application (housing only), reading every cited certificate through the gate.
#[call]
pub fn decide(ctx: &mut Context, args: Decide) -> Result<Decision, String> {
    require(ctx, HOUSING, "decide an application")?;
    let mut app = open_for_attestation(&args.application)?;
    let missing: Vec<String> = KINDS.iter().filter(|k| !app.attestations.contains_key(k.0)).map(|k| format!("{} ({})", k.1, k.2)).collect();
    if !missing.is_empty() {
        return Err(format!("application {} cannot be decided: missing attestations from {}", app.application, missing.join(", ")));
    }
    let get = |kind: &str| &app.attestations[kind].attestation;
    let corrupt = || format!("application {} holds a corrupt attestation record", app.application);
    let Attestation::Household { certificate: hh_cert, registration_district, local } = get("household") else { return Err(corrupt()) };
    let Attestation::MaritalStatus { certificate: mr_cert, status, spouse_subject_id } = get("marital_status") else { return Err(corrupt()) };
    let Attestation::HomesOwned { certificates: titles, count: homes } = get("homes_owned") else { return Err(corrupt()) };
    let Attestation::TaxRecord { certificate: tax_cert, months_paid_last_36: tax_months } = get("tax_record") else { return Err(corrupt()) };
    let Attestation::SocialInsurance { certificate: si_cert, months_paid_last_36: si_months } = get("social_insurance") else { return Err(corrupt()) };
    let Attestation::PurchaseRules { rules_document, local_max_homes, nonlocal_max_homes, nonlocal_min_months } = get("purchase_rules") else { return Err(corrupt()) };
    let Attestation::OutstandingLoans { certificates: loans, count: loan_count } = get("outstanding_loans") else { return Err(corrupt()) };
    // Checks that need no read come first: a read is paid even if the call fails.
    check_list(titles, *homes, "real-estate", "property")?;
    check_list(loans, *loan_count, "bank", "loan")?;

    let applicant = app.subject_id.as_str();
    let family: Vec<&str> = [Some(applicant), spouse_subject_id.as_deref()].into_iter().flatten().collect();
    let mut r = Reader { ctx, audit_seqs: Vec::new() };
    let (dept, v) = ("public-security", r.read(hh_cert, "public-security", "household", &[applicant])?);
    let recorded = field(&v, "registration_district", dept)?;
    if recorded != registration_district {
        return Err(contradiction(dept, format!("certificate {} records registration_district {recorded}, attested {registration_district}", v.number)));
    }
    if *local != recorded.starts_with("3201") {
        return Err(contradiction(dept, format!("certificate {} records registration_district {recorded}, which is {}in Nanjing, but local is attested {local}", v.number, if *local { "not " } else { "" })));
    }
    let (dept, v) = ("civil-affairs", r.read(mr_cert, "civil-affairs", "marriage", &[applicant])?);
    let record_kind = field(&v, "record_kind", dept)?;
    let recorded = match record_kind {
        "marriage" => MaritalStatus::Married,
        "divorce" => MaritalStatus::Divorced,
        "no-record" => MaritalStatus::Single,
        other => return Err(contradiction(dept, format!("certificate {} has an unknown record_kind '{other}'", v.number))),
    };
    if recorded != *status {
        return Err(contradiction(dept, format!("certificate {} has record_kind '{record_kind}' ({}), but the attested status is {}", v.number, recorded.as_str(), status.as_str())));
    }
    for id in titles {
        let v = r.read(id, "real-estate", "property", &family)?;
        let usage = field(&v, "usage", "real-estate")?;
        if usage != "住宅" {
            return Err(contradiction("real-estate", format!("certificate {} has usage '{usage}', not residential (住宅)", v.number)));
        }
    }
    for (id, dept, cert_type, months) in [(tax_cert, "tax", "tax-payment", tax_months), (si_cert, "social-security", "social-insurance", si_months)] {
        let v = r.read(id, dept, cert_type, &[applicant])?;
        let period = field(&v, "period", dept)?;
        let covered = period_months(period).ok_or_else(|| contradiction(dept, format!("certificate {} has a malformed period '{period}' (expected YYYY-MM..YYYY-MM)", v.number)))?;
        if covered < *months {
            return Err(contradiction(dept, format!("certificate {} covers {covered} months (period {period}), but {months} months paid are attested", v.number)));
        }
    }
    for id in loans {
        r.read(id, "bank", "mortgage", &family)?;
    }

    let (limit, who) = if *local { (*local_max_homes, "local") } else { (*nonlocal_max_homes, "non-local") };
    let mut reasons = Vec::new();
    let months = (*tax_months).max(*si_months);
    let qualifies = *local || months >= *nonlocal_min_months;
    if !qualifies {
        reasons.push(format!("non-local household registration: {months} months of local tax or social insurance in the last 36, {nonlocal_min_months} required"));
    }
    let counted = (*homes).max(*loan_count);
    if limit.saturating_sub(counted) == 0 {
        let loans_note = if loan_count > homes { " (counting outstanding home loans)" } else { "" };
        reasons.push(format!("the family already owns {counted} home{}{loans_note}, the limit for {who} households is {limit}", if counted == 1 { "" } else { "s" }));
    }
    let homes_allowed = if qualifies { limit.saturating_sub(counted) } else { 0 };
    let eligible = homes_allowed > 0;
    let (year, decided_on) = date(ctx.time_ms(), 0);
    let certificate = if eligible {
        let seq = SEQUENCE.get(&year)?.unwrap_or(0) + 1;
        SEQUENCE.set(&year, &seq)?;
        Some(EligibilityCertificate { number: format!("宁房资〔{year}〕第{seq:06}号"), district: app.district.clone(), homes_allowed, valid_until: date(ctx.time_ms(), VALID_DAYS).1 })
    } else {
        None
    };
    let decision = Decision {
        application: app.application.clone(),
        subject_id: app.subject_id.clone(),
        eligible,
        homes_allowed,
        district: app.district.clone(),
        reasons,
        certificate,
        rules_document: rules_document.clone(),
        audit_seqs: r.audit_seqs,
        decided_height: ctx.height(),
        decided_on,
    };
    let number = decision.certificate.as_ref().map_or(String::new(), |c| c.number.clone());
    if !number.is_empty() {
        ISSUED.set(&number, &app.application)?;
    }
    app.decision = Some(decision.clone());
    APPLICATIONS.set(&app.application, &app)?;
    ctx.emit("eligibility_decided", &[("application", &app.application), ("eligible", &eligible.to_string()), ("homes_allowed", &homes_allowed.to_string()), ("certificate", &number)]);
    Ok(decision)
}

/// The Beijing (UTC+8) year and date `plus_days` after the block time, via Howard
/// Hinnant's civil-from-days algorithm (proleptic Gregorian calendar).
fn date(time_ms: u64, plus_days: i64) -> (u64, String) {
    let z = ((time_ms + 8 * 3_600_000) / 86_400_000) as i64 + plus_days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as u64, format!("{y:04}-{m:02}-{d:02}"))
}

/// Application `id` if the query's caller is one of its departments (the one that opened
/// it, or one that attested in it): an application holds a citizen's marital status,
/// homes, loans and tax months. Anyone else, an unsigned query included, gets the same
/// answer whether or not the application exists.
fn load_for(ctx: &Context, id: &str) -> Result<Application, String> {
    let caller = ctx.caller_department();
    let department = |who: &str| who.split('/').next().unwrap_or_default().to_string();
    APPLICATIONS
        .get(&id.to_string())?
        .filter(|a| !caller.is_empty() && (department(&a.opened_by) == caller || a.attestations.values().any(|x| department(&x.attested_by) == caller)))
        .ok_or_else(|| format!("application {id} is answered only to the departments that opened it or attested in it: sign the query as one of them"))
}

/// An application with its attestations and decision, to its departments only.
#[query]
pub fn application(ctx: &Context, args: Get) -> Result<Application, String> {
    load_for(ctx, &args.application)
}

/// An issued eligibility certificate and its application, to the application's
/// departments only.
#[query]
pub fn certificate(ctx: &Context, args: GetCertificate) -> Result<IssuedCertificate, String> {
    let id = ISSUED.get(&args.number)?.ok_or_else(|| format!("no eligibility certificate {}", args.number))?;
    let application = load_for(ctx, &id)?;
    let certificate = application.decision.as_ref().and_then(|d| d.certificate.clone()).ok_or_else(|| format!("application {id} holds no certificate"))?;
    Ok(IssuedCertificate { certificate, application })
}

#[cfg(test)]
mod tests {
    use super::*;
    use govchain_sdk::testing::{self, TestHost};

    const APP: &str = "NJZF-2026-000123";
    const APPLICANT: &str = "9c1e4b7a2f3d5e6c8b0a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a";
    const SPOUSE: &str = "4d7f0a3c6e9b2d5f8a1c4e7b0d3f6a9c2e5b8d1f4a7c0e3b6d9f2a5c8e1b4d7f";
    /// 2026-03-16 10:00 Beijing time.
    const T: u64 = 1_773_626_400_000;
    const TITLE: &str = "苏(2024)南京市不动产权第0012345号";

    fn view(id: &str, cert_type: &str, number: &str, subject: &str, issuer: &str, meta: &[(&str, &str)], seq: u64) -> Vec<u8> {
        let metadata = meta.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let v = CertificateView { id: id.into(), cert_type: cert_type.into(), number: number.into(), subject_id: subject.into(), issuer: issuer.into(), issued_on: "2025-06-01".into(), expires_on: String::new(), status: "valid".into(), metadata, content_hash: "ab".repeat(32), audit_seq: seq };
        govchain_sdk::serde_json::to_vec(&v).unwrap()
    }

    /// A married local family in 鼓楼区: the spouse owns one flat, no loans.
    fn records(record_kind: &str) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("hh-320106-0871", view("hh-320106-0871", "household", "宁公(鼓)户字第2019-004512号", APPLICANT, "public-security", &[("registration_district", "320106"), ("household_type", "家庭户")], 101)),
            ("mr-320106-3127", view("mr-320106-3127", "marriage", "J320106-2018-003127", APPLICANT, "civil-affairs", &[("registration_office", "南京市鼓楼区民政局婚姻登记处"), ("record_kind", record_kind)], 102)),
            ("pr-320102-2345", view("pr-320102-2345", "property", TITLE, SPOUSE, "real-estate", &[("district", "玄武区"), ("usage", "住宅"), ("ownership", "单独所有")], 103)),
            ("tx-320106-1234", view("tx-320106-1234", "tax-payment", "苏税证〔2026〕第320106001234号", APPLICANT, "tax", &[("tax_kind", "个人所得税"), ("period", "2024-03..2026-02")], 104)),
            ("si-320106-8231", view("si-320106-8231", "social-insurance", "宁社证〔2026〕第0088231号", APPLICANT, "social-security", &[("insurance_kind", "养老"), ("period", "2023-03..2026-02")], 105)),
        ]
    }

    fn household(district: &str, local: bool) -> Attestation {
        Attestation::Household { certificate: "hh-320106-0871".into(), registration_district: district.into(), local }
    }

    fn married() -> Attestation {
        Attestation::MaritalStatus { certificate: "mr-320106-3127".into(), status: MaritalStatus::Married, spouse_subject_id: Some(SPOUSE.into()) }
    }

    fn attestations() -> Vec<Attestation> {
        vec![
            household("320106", true),
            married(),
            Attestation::HomesOwned { certificates: vec!["pr-320102-2345".into()], count: 1 },
            Attestation::TaxRecord { certificate: "tx-320106-1234".into(), months_paid_last_36: 24 },
            Attestation::SocialInsurance { certificate: "si-320106-8231".into(), months_paid_last_36: 36 },
            Attestation::PurchaseRules { rules_document: "宁房规〔2025〕2号".into(), local_max_homes: 2, nonlocal_max_homes: 1, nonlocal_min_months: 24 },
            Attestation::OutstandingLoans { certificates: vec![], count: 0 },
        ]
    }

    fn as_dept(dept: &str, height: u64) -> Context {
        TestHost::new().caller(dept).height(height).time_ms(T).install()
    }

    fn give(a: Attestation) -> Result<Application, String> {
        let mut ctx = as_dept(a.department(), 20);
        attest(&mut ctx, Attest { application: APP.into(), attestation: a })
    }

    fn opened() {
        testing::reset();
        let args = OpenApplication { application: APP.into(), subject_id: APPLICANT.into(), district: "320106".into() };
        open(&mut as_dept("housing", 10), args).unwrap();
    }

    fn decide_with(records: Vec<(&str, Vec<u8>)>) -> Result<Decision, String> {
        let host = records.iter().fold(TestHost::new().caller("housing").height(30).time_ms(T), |h, (id, v)| h.certificate(id, PURPOSE, v));
        decide(&mut host.install(), Decide { application: APP.into() })
    }

    #[test]
    fn an_application_is_answered_only_to_its_departments() {
        opened();
        give(married()).unwrap();
        let ask = |caller: &str| application(&TestHost::new().caller(caller).install(), Get { application: APP.into() });
        assert_eq!(ask("housing").unwrap().application, APP, "the department that opened it");
        assert!(ask("civil-affairs/clerk").is_ok(), "a department that attested, through its operator");
        let refused = ask("bank").unwrap_err();
        assert!(refused.contains("answered only to the departments"), "{refused}");
        assert!(!refused.contains("married"), "nothing of the application in the refusal");
        assert_eq!(ask("").unwrap_err(), refused.clone(), "an unsigned query");
        let unknown = application(&TestHost::new().caller("bank").install(), Get { application: "NJZF-2026-999999".into() }).unwrap_err();
        assert_eq!(unknown, refused.replace(APP, "NJZF-2026-999999"), "no telling whether it exists");
    }

    #[test]
    fn eligible_local_family_gets_a_certificate() {
        opened();
        attestations().into_iter().for_each(|a| drop(give(a).unwrap()));
        let d = decide_with(records("marriage")).unwrap();
        assert!(d.eligible, "{:?}", d.reasons);
        assert_eq!((d.homes_allowed, d.decided_on.as_str(), d.decided_height), (1, "2026-03-16", 30));
        assert_eq!(d.audit_seqs, vec![101, 102, 103, 104, 105]);
        let c = d.certificate.clone().unwrap();
        assert_eq!(c, EligibilityCertificate { number: "宁房资〔2026〕第000001号".into(), district: "320106".into(), homes_allowed: 1, valid_until: "2026-09-12".into() });
        let e = testing::events().pop().unwrap();
        assert_eq!(e.kind, "eligibility_decided");
        assert!(e.attributes.contains(&("certificate".into(), c.number.clone())) && e.attributes.contains(&("homes_allowed".into(), "1".into())));
        let issued = certificate(&as_dept("bank", 31), GetCertificate { number: c.number }).unwrap();
        assert_eq!(issued.application.decision, Some(d));
    }

    #[test]
    fn non_local_buyer_short_of_months_is_ineligible() {
        opened();
        let mut a = attestations();
        a[0] = household("340104", false);
        a[3] = Attestation::TaxRecord { certificate: "tx-320106-1234".into(), months_paid_last_36: 14 };
        a[4] = Attestation::SocialInsurance { certificate: "si-320106-8231".into(), months_paid_last_36: 12 };
        a.into_iter().for_each(|a| drop(give(a).unwrap()));
        let mut r = records("marriage");
        r[0].1 = view("hh-320106-0871", "household", "皖公(蜀)户字第2020-118305号", APPLICANT, "public-security", &[("registration_district", "340104")], 101);
        let d = decide_with(r).unwrap();
        assert!(!d.eligible && d.homes_allowed == 0 && d.certificate.is_none());
        let months = "non-local household registration: 14 months of local tax or social insurance in the last 36, 24 required";
        assert_eq!(d.reasons, vec![months, "the family already owns 1 home, the limit for non-local households is 1"]);
    }

    #[test]
    fn family_at_the_limit_is_ineligible() {
        opened();
        let mut a = attestations();
        a[2] = Attestation::HomesOwned { certificates: vec!["pr-320102-2345".into(), "pr-320106-0917".into()], count: 2 };
        a.into_iter().for_each(|a| drop(give(a).unwrap()));
        let mut r = records("marriage");
        r.push(("pr-320106-0917", view("pr-320106-0917", "property", "苏(2021)南京市不动产权第0090917号", APPLICANT, "real-estate", &[("district", "鼓楼区"), ("usage", "住宅")], 106)));
        let d = decide_with(r).unwrap();
        assert_eq!(d.reasons, vec!["the family already owns 2 homes, the limit for local households is 2"]);
        assert!(!d.eligible && d.certificate.is_none());
    }

    #[test]
    fn missing_attestations_name_the_departments() {
        opened();
        let a = attestations();
        [0, 2, 3, 4, 5].into_iter().for_each(|i| drop(give(a[i].clone()).unwrap()));
        assert_eq!(decide_with(records("marriage")).unwrap_err(), "application NJZF-2026-000123 cannot be decided: missing attestations from civil-affairs (marital status), bank (outstanding loans)");
    }

    #[test]
    fn wrong_departments_are_refused() {
        opened();
        let err = attest(&mut as_dept("tax", 20), Attest { application: APP.into(), attestation: household("320106", true) }).unwrap_err();
        assert_eq!(err, "a 'household' attestation must come from public-security, not tax");
        let err = decide(&mut as_dept("real-estate", 20), Decide { application: APP.into() }).unwrap_err();
        assert_eq!(err, "only housing may decide an application, not real-estate");
        let args = OpenApplication { application: "NJZF-2026-000124".into(), subject_id: APPLICANT.into(), district: "320102".into() };
        assert!(open(&mut as_dept("bank", 20), args).unwrap_err().contains("only housing"));
        let single = Attestation::MaritalStatus { certificate: "mr-320106-3127".into(), status: MaritalStatus::Single, spouse_subject_id: Some(SPOUSE.into()) };
        assert!(give(single).unwrap_err().contains("spouse_subject_id is only for a married applicant"));
    }

    #[test]
    fn contradictory_marriage_names_civil_affairs() {
        opened();
        let mut a = attestations();
        a[1] = Attestation::MaritalStatus { certificate: "mr-320106-3127".into(), status: MaritalStatus::Single, spouse_subject_id: None };
        a[2] = Attestation::HomesOwned { certificates: vec![], count: 0 };
        a.into_iter().for_each(|a| drop(give(a).unwrap()));
        let err = decide_with(records("marriage")).unwrap_err();
        assert_eq!(err, "contradictory attestation from civil-affairs: certificate J320106-2018-003127 has record_kind 'marriage' (married), but the attested status is single");
        // Single after all, but the title cited is someone else's.
        give(Attestation::HomesOwned { certificates: vec!["pr-320102-2345".into()], count: 1 }).unwrap();
        let err = decide_with(records("no-record")).unwrap_err();
        assert_eq!(err, format!("contradictory attestation from real-estate: certificate {TITLE} (field subject_id) does not belong to the applicant"));
    }

    #[test]
    fn denied_gate_read_names_the_certificate() {
        opened();
        attestations().into_iter().for_each(|a| drop(give(a).unwrap()));
        let mut r = records("marriage");
        r.retain(|(id, _)| *id != "tx-320106-1234");
        let err = decide_with(r).unwrap_err();
        assert!(err.starts_with("certificate tx-320106-1234 cited by tax could not be read through the access gate"), "{err}");
        assert_eq!(application(&as_dept("housing", 31), Get { application: APP.into() }).unwrap().decision, None);
    }

    #[test]
    fn a_decided_application_is_final() {
        opened();
        attestations().into_iter().for_each(|a| drop(give(a).unwrap()));
        decide_with(records("marriage")).unwrap();
        assert_eq!(decide_with(records("marriage")).unwrap_err(), "application NJZF-2026-000123 is already decided");
        assert_eq!(give(married()).unwrap_err(), "application NJZF-2026-000123 is already decided");
    }

    #[test]
    fn re_attesting_corrects_an_attestation() {
        opened();
        let a = attestations();
        a.iter().cloned().for_each(|a| drop(give(a).unwrap()));
        give(Attestation::TaxRecord { certificate: "tx-320106-1234".into(), months_paid_last_36: 30 }).unwrap();
        assert!(decide_with(records("marriage")).unwrap_err().contains("covers 24 months (period 2024-03..2026-02), but 30 months paid are attested"));
        let mut ctx = as_dept("tax/operator-07", 25);
        let app = attest(&mut ctx, Attest { application: APP.into(), attestation: a[3].clone() }).unwrap();
        let t = &app.attestations["tax_record"];
        assert_eq!((t.attested_by.as_str(), t.height, &t.attestation), ("tax/operator-07", 25, &a[3]));
        assert!(decide_with(records("marriage")).unwrap().eligible);
    }

    #[test]
    fn attestations_travel_as_tagged_json() {
        let a: Attestation = govchain_sdk::serde_json::from_str(r#"{"kind":"marital_status","certificate":"mr-320106-3127","status":"divorced"}"#).unwrap();
        assert_eq!(a, Attestation::MaritalStatus { certificate: "mr-320106-3127".into(), status: MaritalStatus::Divorced, spouse_subject_id: None });
        assert_eq!((period_months("2024-03..2026-02"), period_months("2024-3..2026-02"), period_months("2026-03..2026-02")), (Some(24), None, None));
        assert_eq!(date(T, 0).1, "2026-03-16");
    }
}
