//! Deed tax (契税) assessment of property transfers by the tax bureau.
//!
//! For every transfer the bureau reads the property title through the access gate
//! (purpose `tax_assessment`, paid in points like any read: 5 points a title) to learn
//! its usage and district, then applies the deed-tax rates for individuals (财政部 税务总局
//! 公告2024年第16号):
//!
//! | usage | buyer | area ≤ 140 m² | area > 140 m² |
//! |---|---|---|---|
//! | residential (住宅) | first home | 1% | 1.5% |
//! | residential (住宅) | second home | 1% | 2% |
//! | anything else | any | 3% | 3% |
//!
//! Tax due is price × rate in integer fen, rounded half up to the fen.
//!
//! This is the sharing-incentive scenario: reads cost the bureau points, so a large batch
//! runs it out of points and the gate starts denying. `assess` then stops at the first
//! denied read and keeps everything assessed so far (those reads were paid), reporting
//! which title was denied; the bureau earns points back by publishing its own
//! certificates for other departments, then resubmits the rest.

use govchain_sdk::{call, query, Context, Item, Map};
use serde::{Deserialize, Serialize};

const ASSESSMENTS: Map<String, Assessment> = Map::new("assessments");
const SUMMARY: Item<Summary> = Item::new("summary");
const PURPOSE: &str = "tax_assessment";
const MAX_BATCH: usize = 100;
/// 140 m² in 0.01 m².
const LARGE_AREA_CENTI: u64 = 14_000;

/// One property transfer to assess.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Property title certificate id.
    pub certificate: String,
    /// Declared transfer price, yuan.
    pub declared_price_yuan: u64,
    /// Floor area in 0.01 m² (89.50 m² is 8950).
    pub area_m2_centi: u64,
    /// Whether this is the buying family's only home.
    pub buyer_first_home: bool,
}

/// Arguments of `assess`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assess {
    /// 1 to 100 transfers, assessed in order.
    pub transfers: Vec<Transfer>,
}

/// A deed-tax assessment, kept per title (re-assessing overwrites).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// Property title certificate id.
    pub certificate: String,
    /// Title number, e.g. `苏(2024)南京市不动产权第0012345号`.
    pub number: String,
    /// District on the title.
    pub district: String,
    /// Usage on the title, e.g. `住宅`.
    pub usage: String,
    /// Declared price, yuan.
    pub declared_price_yuan: u64,
    /// Floor area, 0.01 m².
    pub area_m2_centi: u64,
    /// Whether the buyer declared a first home.
    pub buyer_first_home: bool,
    /// Rate applied, basis points.
    pub rate_bps: u32,
    /// Tax due, fen.
    pub tax_due_fen: u64,
    /// Block height of the assessment.
    pub assessed_height: u64,
    /// Audit sequence number of the title read.
    pub audit_seq: u64,
}

/// The read `assess` stopped at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denied {
    /// The title that could not be assessed.
    pub certificate: String,
    /// Why: the gate's reason, or what is wrong with the certificate.
    pub reason: String,
}

/// What `assess` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssessReport {
    /// Assessments made by this call, in order.
    pub assessed: Vec<Assessment>,
    /// The read the call stopped at, if any; the transfers after it were not read.
    pub denied: Option<Denied>,
    /// Tax due over `assessed`, fen.
    pub total_tax_due_fen: u64,
}

/// Totals over all titles assessed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Titles assessed (each counted once).
    pub count: u64,
    /// Tax due over their current assessments, fen.
    pub total_tax_due_fen: u64,
}

/// Arguments of the `assessment` query.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Get {
    /// Property title certificate id.
    pub certificate: String,
}

/// The deed-tax rate in basis points for a title's usage, its area and the buyer.
pub fn rate_bps(usage: &str, area_m2_centi: u64, buyer_first_home: bool) -> u32 {
    match (usage == "住宅", area_m2_centi <= LARGE_AREA_CENTI, buyer_first_home) {
        (false, _, _) => 300,
        (true, true, _) => 100,
        (true, false, true) => 150,
        (true, false, false) => 200,
    }
}

/// Tax due in fen: price (yuan) × 100 × rate / 10,000, rounded half up to the fen.
pub fn tax_due_fen(price_yuan: u64, rate_bps: u32) -> u64 {
    ((u128::from(price_yuan) * u128::from(rate_bps) + 50) / 100) as u64
}

/// Assesses a batch of transfers (tax only), stopping at the first denied read.
#[call]
pub fn assess(ctx: &mut Context, args: Assess) -> Result<AssessReport, String> {
    if ctx.caller_department() != "tax" {
        return Err(format!("only tax may assess deed tax, not {}", ctx.caller_department()));
    }
    if args.transfers.is_empty() || args.transfers.len() > MAX_BATCH {
        return Err(format!("a batch holds 1 to {MAX_BATCH} transfers, got {}", args.transfers.len()));
    }
    // Everything that needs no read is checked first: a read is paid even if the call fails.
    for (i, t) in args.transfers.iter().enumerate() {
        if t.certificate.is_empty() || t.declared_price_yuan == 0 || t.declared_price_yuan > 10_000_000_000 || t.area_m2_centi == 0 {
            return Err(format!(
                "transfer {} ({}): certificate must be set, declared_price_yuan 1 to 10000000000 and area_m2_centi above 0",
                i + 1,
                t.certificate
            ));
        }
    }
    let mut summary = SUMMARY.load()?.unwrap_or_default();
    let mut report = AssessReport { assessed: Vec::new(), denied: None, total_tax_due_fen: 0 };
    for t in args.transfers {
        let title = match ctx.certificate(&t.certificate, PURPOSE) {
            Ok(v) if v.cert_type == "property" => v,
            Ok(v) => {
                let reason = format!("certificate {} is a '{}' certificate, not a property title", v.number, v.cert_type);
                report.denied = Some(Denied { certificate: t.certificate, reason });
                break;
            }
            Err(reason) => {
                report.denied = Some(Denied { certificate: t.certificate, reason });
                break;
            }
        };
        let usage = title.metadata.get("usage").cloned().unwrap_or_default();
        let rate = rate_bps(&usage, t.area_m2_centi, t.buyer_first_home);
        let a = Assessment {
            district: title.metadata.get("district").cloned().unwrap_or_default(),
            number: title.number,
            certificate: t.certificate,
            usage,
            declared_price_yuan: t.declared_price_yuan,
            area_m2_centi: t.area_m2_centi,
            buyer_first_home: t.buyer_first_home,
            rate_bps: rate,
            tax_due_fen: tax_due_fen(t.declared_price_yuan, rate),
            assessed_height: ctx.height(),
            audit_seq: title.audit_seq,
        };
        match ASSESSMENTS.get(&a.certificate)? {
            Some(old) => summary.total_tax_due_fen -= old.tax_due_fen,
            None => summary.count += 1,
        }
        summary.total_tax_due_fen += a.tax_due_fen;
        report.total_tax_due_fen += a.tax_due_fen;
        ASSESSMENTS.set(&a.certificate, &a)?;
        report.assessed.push(a);
    }
    SUMMARY.save(&summary)?;
    let denied = report.denied.as_ref().map_or("", |d| d.certificate.as_str());
    ctx.emit("assessed", &[("count", &report.assessed.len().to_string()), ("total_tax_due_fen", &report.total_tax_due_fen.to_string()), ("denied", denied)]);
    Ok(report)
}

/// The current assessment of a title.
#[query]
pub fn assessment(_ctx: &Context, args: Get) -> Result<Assessment, String> {
    ASSESSMENTS.get(&args.certificate)?.ok_or_else(|| format!("title {} has not been assessed", args.certificate))
}

/// Titles assessed and tax due over all of them.
#[query]
pub fn summary(_ctx: &Context, _args: ()) -> Result<Summary, String> {
    Ok(SUMMARY.load()?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use govchain_sdk::testing::{self, TestHost};
    use govchain_sdk::{serde_json, CertificateView};

    /// A title in 鼓楼区 (or 玄武区 for shops) as the gate returns it.
    fn title(n: u64, usage: &str) -> (String, Vec<u8>) {
        let id = format!("pr-3201-{n:04}");
        let district = if usage == "住宅" { "鼓楼区" } else { "玄武区" };
        let metadata = [("district".to_string(), district.to_string()), ("usage".to_string(), usage.to_string()), ("ownership".to_string(), "单独所有".to_string())].into();
        let v = CertificateView { id: id.clone(), cert_type: "property".into(), number: format!("苏(2024)南京市不动产权第00{n:05}号"), subject_id: "4d7f".repeat(16), issuer: "real-estate".into(), issued_on: "2024-04-18".into(), expires_on: String::new(), status: "valid".into(), metadata, content_hash: "cd".repeat(32), audit_seq: 900 + n };
        (id, serde_json::to_vec(&v).unwrap())
    }

    fn transfer(n: u64, price: u64, area: u64, first: bool) -> Transfer {
        Transfer { certificate: format!("pr-3201-{n:04}"), declared_price_yuan: price, area_m2_centi: area, buyer_first_home: first }
    }

    /// A tax host allowed to read titles `readable` (residential, or a shop for 5).
    fn tax_host(readable: &[u64]) -> Context {
        let host = readable.iter().fold(TestHost::new().caller("tax").height(88), |h, &n| {
            let (id, v) = title(n, if n == 5 { "商业服务" } else { "住宅" });
            h.certificate(&id, PURPOSE, &v)
        });
        host.install()
    }

    #[test]
    fn rates_and_rounding() {
        testing::reset();
        let mut ctx = tax_host(&[1, 2, 3, 4, 5, 6]);
        let batch = vec![
            transfer(1, 2_680_000, 8_950, true),     // first home, 89.50 m²: 1%
            transfer(2, 6_400_000, 16_820, true),    // first home, 168.20 m²: 1.5%
            transfer(3, 3_150_000, 14_000, false),   // second home, exactly 140 m²: 1%
            transfer(4, 7_900_000, 14_001, false),   // second home, 140.01 m²: 2%
            transfer(5, 1_200_000, 6_530, true),     // shop: 3%
            transfer(6, 1_234_567, 15_000, true),    // 18,518.505 yuan rounds up to 18,518.51
        ];
        let r = assess(&mut ctx, Assess { transfers: batch }).unwrap();
        let got: Vec<(u32, u64)> = r.assessed.iter().map(|a| (a.rate_bps, a.tax_due_fen)).collect();
        assert_eq!(got, vec![(100, 2_680_000), (150, 9_600_000), (100, 3_150_000), (200, 15_800_000), (300, 3_600_000), (150, 1_851_851)]);
        assert_eq!((r.denied, r.total_tax_due_fen), (None, 36_681_851));
        assert_eq!((r.assessed[4].usage.as_str(), r.assessed[4].district.as_str(), r.assessed[4].audit_seq), ("商业服务", "玄武区", 905));
        assert_eq!(tax_due_fen(1, 150), 2);
        // Re-assessing a title replaces its assessment in the totals.
        assess(&mut ctx, Assess { transfers: vec![transfer(4, 7_900_000, 14_001, true)] }).unwrap();
        assert_eq!(assessment(&ctx, Get { certificate: "pr-3201-0004".into() }).unwrap().tax_due_fen, 11_850_000);
        assert_eq!(summary(&ctx, ()).unwrap(), Summary { count: 6, total_tax_due_fen: 36_681_851 - 15_800_000 + 11_850_000 });
    }

    #[test]
    fn first_denial_stops_and_keeps_what_was_assessed() {
        testing::reset();
        let mut ctx = tax_host(&[1, 3]);
        let batch = vec![transfer(1, 2_680_000, 8_950, true), transfer(2, 3_050_000, 9_870, true), transfer(3, 3_150_000, 12_000, false)];
        let r = assess(&mut ctx, Assess { transfers: batch }).unwrap();
        assert_eq!(r.assessed.len(), 1);
        let denied = r.denied.unwrap();
        assert_eq!(denied.certificate, "pr-3201-0002");
        assert!(denied.reason.contains("denied"), "{}", denied.reason);
        assert_eq!(summary(&ctx, ()).unwrap(), Summary { count: 1, total_tax_due_fen: 2_680_000 });
        assert!(assessment(&ctx, Get { certificate: "pr-3201-0003".into() }).unwrap_err().contains("not been assessed"));
        let e = testing::events().pop().unwrap();
        assert!(e.kind == "assessed" && e.attributes.contains(&("count".into(), "1".into())));
    }

    #[test]
    fn only_tax_and_batches_of_one_to_a_hundred() {
        testing::reset();
        let mut ctx = TestHost::new().caller("real-estate").install();
        assert_eq!(assess(&mut ctx, Assess { transfers: vec![transfer(1, 2_680_000, 8_950, true)] }).unwrap_err(), "only tax may assess deed tax, not real-estate");
        let mut ctx = tax_host(&[1]);
        assert_eq!(assess(&mut ctx, Assess { transfers: vec![] }).unwrap_err(), "a batch holds 1 to 100 transfers, got 0");
        let many = (1..=101).map(|n| transfer(n, 2_680_000, 8_950, true)).collect();
        assert_eq!(assess(&mut ctx, Assess { transfers: many }).unwrap_err(), "a batch holds 1 to 100 transfers, got 101");
        assert!(assess(&mut ctx, Assess { transfers: vec![transfer(1, 0, 8_950, true)] }).unwrap_err().starts_with("transfer 1 (pr-3201-0001)"));
        assert_eq!(summary(&ctx, ()).unwrap(), Summary::default());
    }
}
