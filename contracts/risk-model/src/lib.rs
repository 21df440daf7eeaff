//! The Bank of Nanjing's personal-loan risk model, run compute-to-data.
//!
//! A loan applicant's individual income tax payment certificate (完税证明) stays with the
//! tax bureau. The bank requests the `score` job; the tax bureau's node decrypts the
//! certificate, runs this model over it and posts only the [`Score`]: band,
//! recommendation and coarse descriptors. No income or tax figure and no name ever
//! leaves the node, and the model code the bank runs is the code governance approved,
//! its parameters ([`params`]) included: the bank chooses only the loan it asks about.
//!
//! What a bank can learn, however many jobs it runs and whatever loans it names
//! (`docs/design/compute.md`): the model uses the mean income only as its band on a
//! geometric grid of ratio 5/4 ([`income_band_fen`]), so no answer depends on where the
//! income lies within its band; besides that, three classes of stability and, through
//! the band A–D, a coarse mix of months on record and gaps.
//!
//! The model (all integer arithmetic, amounts in fen, ratios in basis points):
//! - monthly income is the record's `taxable_income`; the mean over the months on record,
//!   taken as the floor of its band, and its stability, the mean absolute deviation
//!   divided by the mean;
//! - gaps are months of the certificate's period without a record;
//! - the loan's monthly instalment is an equal-instalment (等额本息) repayment, see
//!   [`instalment_fen`]; debt-to-income (DTI) is instalment / the income band's floor;
//! - score = 300 + history (up to 150, full at 24 months) + stability (150 stable, 75
//!   variable, 0 volatile) + gaps (100, less 25 per gap) + DTI (150 below 30%, 75 up to
//!   50%, 0 above), so 300..=850; bands A ≥ 750, B ≥ 650, C ≥ 550, D below;
//! - decline for band D or a DTI above `max_dti_bps`; approve for band A with at least
//!   `min_months` on record and an income that is not volatile; review otherwise.

use govchain_sdk::{job, query, Context, JobInput};
use serde::{Deserialize, Serialize};

const BANK: &str = "bank";

/// The model's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// Model version reported with every score, e.g. `NJB-PL-2026.1`.
    pub model_version: String,
    /// Months on record needed for an approval.
    pub min_months: u32,
    /// Highest debt-to-income ratio that is not declined, basis points.
    pub max_dti_bps: u32,
    /// Income stability (deviation / mean, basis points) up to which income is `stable`.
    pub stable_max_bps: u32,
    /// Income stability up to which income is `variable`; above it is `volatile`.
    pub variable_max_bps: u32,
}

/// The model's parameters: part of the code governance approves (a change is a new
/// version of the contract, approved again), never set by the bank that runs it.
pub fn params() -> Params {
    Params { model_version: "NJB-PL-2026.2".into(), min_months: 12, max_dti_bps: 5000, stable_max_bps: 1500, variable_max_bps: 3500 }
}

/// The bank's arguments to the `score` job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreArgs {
    /// The bank's loan application number, e.g. `NJB-PL-2026-0045871`.
    pub application: String,
    /// Loan amount, yuan (1 to 100,000,000).
    pub loan_amount_yuan: u64,
    /// Term, months (1 to 360).
    pub term_months: u32,
    /// Annual interest rate, basis points (0 to 3600).
    pub annual_rate_bps: u32,
}

/// What the bank receives: no amount, no name, no count of months (the score behind
/// the band would give months and gaps away).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// The bank's application number.
    pub application: String,
    /// `A`, `B`, `C` or `D`.
    pub band: String,
    /// `approve`, `review` or `decline`.
    pub recommendation: String,
    /// `stable`, `variable` or `volatile`.
    pub income_stability: String,
    /// `below 30%`, `30–50%` or `above 50%`.
    pub dti_band: String,
    /// The model version that scored.
    pub model_version: String,
    /// The certificate id scored.
    pub certificate: String,
}

#[derive(Deserialize)]
struct TaxDocument {
    number: String,
    tax_kind: String,
    period: String,
    records: Vec<TaxRecord>,
}

#[derive(Deserialize)]
struct TaxRecord {
    month: String,
    taxable_income: String,
    tax_paid: String,
}

/// The parameters this version of the model runs with.
#[query]
pub fn model(_ctx: &Context, _args: ()) -> Result<Params, String> {
    Ok(params())
}

/// The floor of the band of a mean monthly income `mean_fen` on the geometric grid
/// from 1,000 yuan, each floor 5/4 of the one before rounded down to the fen (1,000,
/// 1,250, 1,562.50, 1,953.12, … yuan); 0 below 1,000 yuan. The model sees the income
/// only through this, so its answers are the same for every income in one band.
pub fn income_band_fen(mean_fen: u128) -> u128 {
    const FIRST: u128 = 100_000;
    if mean_fen < FIRST {
        return 0;
    }
    let mut floor = FIRST;
    while floor * 5 / 4 <= mean_fen {
        floor = floor * 5 / 4;
    }
    floor
}

/// `YYYY-MM` as a month count.
fn month(s: &str) -> Option<i64> {
    let (y, m) = s.split_once('-')?;
    let digits = y.len() == 4 && m.len() == 2 && y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit());
    let (y, m): (i64, i64) = (y.parse().ok().filter(|_| digits)?, m.parse().ok()?);
    (1..=12).contains(&m).then_some(y * 12 + m - 1)
}

/// A decimal amount in yuan (`18500`, `18500.5`, `18500.00`) as fen.
fn fen(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 15 || frac.len() > 2 || !digits(int) || !digits(frac) {
        return None;
    }
    let frac: u64 = format!("{frac:0<2}").parse().ok()?;
    int.parse::<u64>().ok()?.checked_mul(100)?.checked_add(frac)
}

/// Monthly instalment in fen of an equal-instalment (等额本息) loan of `principal_fen`
/// over `months` at `annual_rate_bps`: M = P·r·(1+r)^n / ((1+r)^n − 1) with the monthly
/// rate r = bps / 120,000. (1+r)^n is computed in fixed point with 10^12 as one, each of
/// the n multiplications rounding down (an error far below a fen for the allowed terms
/// and rates, all within u128); M is then rounded half up to the fen. A zero rate repays
/// P / n a month, rounded half up.
pub fn instalment_fen(principal_fen: u64, months: u32, annual_rate_bps: u32) -> u64 {
    const ONE: u128 = 1_000_000_000_000;
    let (p, n, bps) = (u128::from(principal_fen), u128::from(months.max(1)), u128::from(annual_rate_bps));
    if bps == 0 {
        return ((p + n / 2) / n) as u64;
    }
    let f = (0..n).fold(ONE, |f, _| f * (120_000 + bps) / 120_000);
    let (num, den) = (p * bps * f, 120_000 * (f - ONE));
    ((num + den / 2) / den) as u64
}

/// Scores a loan application over one individual income tax payment certificate. Runs on
/// the tax bureau's node; only the bank may request it.
#[job]
pub fn score(ctx: &Context, input: JobInput<ScoreArgs>) -> Result<Score, String> {
    if ctx.caller_department() != BANK {
        return Err(format!("only bank may run the risk model, not {}", ctx.caller_department()));
    }
    let (args, cert) = (input.args, input.certificate);
    if args.application.is_empty() || args.application.len() > 64 {
        return Err("application must be 1 to 64 characters".into());
    }
    if !(1..=100_000_000).contains(&args.loan_amount_yuan) || !(1..=360).contains(&args.term_months) || args.annual_rate_bps > 3600 {
        return Err(format!(
            "loan_amount_yuan must be 1 to 100000000, term_months 1 to 360 and annual_rate_bps at most 3600 (got {}, {}, {})",
            args.loan_amount_yuan, args.term_months, args.annual_rate_bps
        ));
    }
    if cert.cert_type != "tax-payment" {
        return Err(format!("certificate {} is a '{}' certificate; the risk model needs a 'tax-payment' certificate", cert.id, cert.cert_type));
    }
    let doc: TaxDocument = govchain_sdk::serde_json::from_value(input.document).map_err(|e| format!("tax payment certificate {}: document: {e}", cert.id))?;
    if doc.number != cert.number {
        return Err(format!("tax payment certificate {}: document number {} differs from the certificate's {}", cert.id, doc.number, cert.number));
    }
    // Errors reach the bank: they name what is wrong, never a value of the document.
    if doc.tax_kind != "个人所得税" {
        return Err(format!("tax payment certificate {} is not for individual income tax (个人所得税)", cert.number));
    }
    let bad_period = || format!("tax payment certificate {}: its period is not YYYY-MM..YYYY-MM", cert.number);
    let (from, to) = doc.period.split_once("..").ok_or_else(bad_period)?;
    let (from, to) = (month(from).ok_or_else(bad_period)?, month(to).ok_or_else(bad_period)?);
    if to < from || doc.records.is_empty() {
        return Err(format!("tax payment certificate {}: no monthly records in its period", cert.number));
    }
    let mut seen = Vec::new();
    let mut incomes = Vec::new();
    for r in &doc.records {
        let m = month(&r.month).filter(|m| (from..=to).contains(m));
        let m = m.ok_or_else(|| format!("tax payment certificate {}: a record's month is not a month of its period", cert.number))?;
        if seen.contains(&m) {
            return Err(format!("tax payment certificate {}: a month is recorded twice", cert.number));
        }
        seen.push(m);
        let amount = |field: &str, v: &str| fen(v).ok_or_else(|| format!("tax payment certificate {}: a record's {field} is not an amount in yuan (like 18500.00)", cert.number));
        amount("tax_paid", &r.tax_paid)?;
        incomes.push(amount("taxable_income", &r.taxable_income)?);
    }

    let p = params();
    let months = incomes.len() as u64;
    let gaps = (to - from + 1) as u64 - months;
    let mean = incomes.iter().map(|&x| u128::from(x)).sum::<u128>() / u128::from(months);
    let deviation = incomes.iter().map(|&x| u128::from(x).abs_diff(mean)).sum::<u128>() / u128::from(months);
    let stability_bps = if mean == 0 { 10_000 } else { (deviation * 10_000 / mean).min(10_000) };
    let stability = match stability_bps {
        s if s <= u128::from(p.stable_max_bps) => "stable",
        s if s <= u128::from(p.variable_max_bps) => "variable",
        _ => "volatile",
    };
    let instalment = u128::from(instalment_fen(args.loan_amount_yuan * 100, args.term_months, args.annual_rate_bps));
    let income = income_band_fen(mean);
    let dti_bps = if income == 0 { u128::MAX } else { instalment * 10_000 / income };
    let (dti_band, dti_points) = match dti_bps {
        0..3000 => ("below 30%", 150),
        3000..=5000 => ("30–50%", 75),
        _ => ("above 50%", 0),
    };
    let stability_points = match stability {
        "stable" => 150,
        "variable" => 75,
        _ => 0,
    };
    let score = 300 + months.min(24) * 150 / 24 + stability_points + 100u64.saturating_sub(25 * gaps) + dti_points;
    let band = match score {
        750.. => "A",
        650..750 => "B",
        550..650 => "C",
        _ => "D",
    };
    let recommendation = if band == "D" || dti_bps > u128::from(p.max_dti_bps) {
        "decline"
    } else if band == "A" && months >= u64::from(p.min_months) && stability != "volatile" {
        "approve"
    } else {
        "review"
    };
    Ok(Score {
        application: args.application,
        band: band.into(),
        recommendation: recommendation.into(),
        income_stability: stability.into(),
        dti_band: dti_band.into(),
        model_version: p.model_version,
        certificate: cert.id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use govchain_sdk::serde_json::{self, json};
    use govchain_sdk::testing::{self, TestHost};
    use govchain_sdk::CertificateView;

    const NUMBER: &str = "苏税证〔2026〕第320106001234号";

    /// A certificate with one record per (month, taxable income).
    fn input(cert_type: &str, records: &[(&str, &str)], loan_amount_yuan: u64) -> JobInput<ScoreArgs> {
        let records: Vec<_> = records.iter().map(|(m, income)| json!({"month": m, "taxable_income": income, "tax_paid": "545.00"})).collect();
        let period = format!("{}..{}", records[0]["month"].as_str().unwrap(), records.last().unwrap()["month"].as_str().unwrap());
        let document = json!({"number": NUMBER, "taxpayer": "张三", "tax_kind": "个人所得税", "withholding_agent": "南京新华软件科技有限公司", "period": period, "records": records});
        let metadata = [("tax_kind".to_string(), "个人所得税".to_string()), ("period".to_string(), period)].into();
        let certificate = CertificateView { id: "tx-320106-1234".into(), cert_type: cert_type.into(), number: NUMBER.into(), subject_id: "9c1e".repeat(16), issuer: "tax".into(), issued_on: "2026-11-03".into(), expires_on: String::new(), status: "valid".into(), metadata, content_hash: "ab".repeat(32), audit_seq: 4471 };
        JobInput { args: ScoreArgs { application: "NJB-PL-2026-0045871".into(), loan_amount_yuan, term_months: 60, annual_rate_bps: 385 }, certificate, document }
    }

    fn months(from_year: u32, from_month: u32, incomes: &[&'static str]) -> Vec<(String, &'static str)> {
        (0..incomes.len() as u32).map(|i| {
            let m = from_month - 1 + i;
            (format!("{}-{:02}", from_year + m / 12, m % 12 + 1), incomes[i as usize])
        }).collect()
    }

    fn run(caller: &str, input: JobInput<ScoreArgs>) -> Result<Score, String> {
        testing::reset();
        score(&TestHost::new().caller(caller).read_only(true).install(), input)
    }

    fn records<'a>(m: &'a [(String, &'a str)]) -> Vec<(&'a str, &'a str)> {
        m.iter().map(|(a, b)| (a.as_str(), *b)).collect()
    }

    #[test]
    fn stable_earner_is_approved_and_no_figure_leaves() {
        let incomes = ["18500.00", "18500.00", "19200.00", "18500.00", "18500.00", "21000.00"].repeat(4);
        let m = months(2024, 11, &incomes);
        let s = run("bank", input("tax-payment", &records(&m), 150_000)).unwrap();
        assert_eq!((s.band.as_str(), s.recommendation.as_str()), ("A", "approve"));
        assert_eq!((s.income_stability.as_str(), s.dti_band.as_str()), ("stable", "below 30%"));
        assert_eq!((s.model_version.as_str(), s.certificate.as_str()), ("NJB-PL-2026.2", "tx-320106-1234"));
        let out = serde_json::to_string(&s).unwrap();
        for secret in ["18500", "1850000", "19200", "545", "张三", "南京新华", "months"] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
    }

    #[test]
    fn short_volatile_record_is_not_approved() {
        let m = months(2026, 5, &["3000.00", "12000.00", "800.00", "9000.00", "15000.00", "2000.00"]);
        let s = run("bank", input("tax-payment", &records(&m), 30_000)).unwrap();
        assert_eq!((s.band.as_str(), s.recommendation.as_str(), s.income_stability.as_str()), ("C", "review", "volatile"));
        let s = run("bank", input("tax-payment", &records(&m), 300_000)).unwrap();
        assert_eq!((s.recommendation.as_str(), s.dti_band.as_str()), ("decline", "above 50%"));
    }

    #[test]
    fn errors_name_the_field_never_a_value_of_the_document() {
        let err = run("bank", input("tax-payment", &[("2025-02", "18500.00"), ("2025-03", "18,500.00")], 150_000)).unwrap_err();
        assert_eq!(err, format!("tax payment certificate {NUMBER}: a record's taxable_income is not an amount in yuan (like 18500.00)"));
        let twice = run("bank", input("tax-payment", &[("2025-02", "18500.00"), ("2025-02", "18500.00")], 150_000)).unwrap_err();
        for e in [&err, &twice] {
            for value in ["18,500", "2025-02", "2025-03", "个人所得税"] {
                assert!(!e.contains(value), "{value} in the error: {e}");
            }
        }
    }

    #[test]
    fn every_income_in_one_band_gets_the_same_answer_whatever_the_loan() {
        // 14,551.81 yuan starts a band that runs below 18,189.76: a bank that varies the
        // loan learns at most which band the income is in.
        assert_eq!((income_band_fen(1_455_181), income_band_fen(1_818_975), income_band_fen(1_818_976)), (1_455_181, 1_455_181, 1_818_976));
        assert_eq!((income_band_fen(99_999), income_band_fen(100_000)), (0, 100_000));
        for loan in (10_000..=1_500_000).step_by(10_000) {
            let answers: Vec<_> = ["14551.81", "16000.00", "18189.75"].into_iter().map(|income| {
                let m = months(2024, 11, &[income; 24]);
                let s = run("bank", input("tax-payment", &records(&m), loan)).unwrap();
                (s.band, s.recommendation, s.dti_band)
            }).collect();
            assert!(answers.windows(2).all(|w| w[0] == w[1]), "loan {loan}: {answers:?}");
        }
    }

    #[test]
    fn only_bank_and_only_tax_payment_certificates() {
        let ok = [("2025-02", "18500.00")];
        assert!(run("bank", input("property", &ok, 150_000)).unwrap_err().contains("is a 'property' certificate"));
        assert_eq!(run("real-estate", input("tax-payment", &ok, 150_000)).unwrap_err(), "only bank may run the risk model, not real-estate");
    }

    #[test]
    fn the_parameters_are_the_approved_codes_own() {
        testing::reset();
        assert_eq!(model(&TestHost::new().caller("bank").install(), ()).unwrap(), params());
    }

    #[test]
    fn instalments_and_amounts() {
        // 1,000,000 yuan over 30 years at 4.9%: 5,307.27 yuan a month.
        assert_eq!(instalment_fen(100_000_000, 360, 490), 530_727);
        assert_eq!(instalment_fen(15_000_000, 60, 385), 275_234);
        assert_eq!(instalment_fen(1_000_000, 3, 0), 333_333);
        assert_eq!((fen("18500"), fen("18500.5"), fen("0.07"), fen("-1"), fen("1.234")), (Some(1_850_000), Some(1_850_050), Some(7), None, None));
    }
}
