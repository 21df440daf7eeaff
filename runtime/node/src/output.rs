//! Human tables and `--json` output.

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use govchain_types::pb;
use serde_json::Value;

/// A table with our style.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !header.is_empty() {
        t.set_header(header.iter().copied());
    }
    t
}

/// A two-column key/value table.
pub fn kv(rows: &[(&str, String)]) -> Table {
    let mut t = table(&[]);
    for (k, v) in rows {
        t.add_row([k.to_string(), v.clone()]);
    }
    t
}

/// Prints `value` as JSON, or runs `human` to print tables.
pub fn emit(json: bool, value: &Value, human: impl FnOnce()) {
    if json {
        println!("{}", serde_json::to_string_pretty(value).expect("json"));
    } else {
        human();
    }
}

/// Formats Unix milliseconds as UTC `YYYY-MM-DD HH:MM:SS.mmm`.
pub fn time_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let rem = secs % 86_400;
    format!(
        "{} {:02}:{:02}:{:02}.{:03} UTC",
        govchain_state::certs::format_date((secs / 86_400) as i64),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// `NAME (number): message` of a failed receipt.
pub fn receipt_error(r: &pb::Receipt) -> Option<String> {
    (r.error_code != 0).then(|| {
        format!(
            "{} ({}): {}",
            code_name(r.error_code),
            r.error_code,
            r.error_message
        )
    })
}

/// The name of an error code (`UNKNOWN` for one this build does not know).
pub fn code_name(c: u32) -> &'static str {
    pb::ErrorCode::try_from(c as i32).map_or("UNKNOWN", |c| c.as_str_name())
}

/// A progress bar of `len` steps named `what`.
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{what:>10} [{{bar:40}}] {{pos}}/{{len}} {{per_sec}} {{eta}}"
        ))
        .expect("template")
        .progress_chars("=> "),
    );
    pb
}

/// A proposal's status name (`OPEN`, `APPROVED`, ...).
pub fn proposal_status(s: i32) -> &'static str {
    pb::ProposalStatus::try_from(s).map_or("UNKNOWN", |s| {
        s.as_str_name().trim_start_matches("PROPOSAL_STATUS_")
    })
}

/// A proposal as the CLI and the gateway show it (a contract's code by its hash).
pub fn proposal_json(p: &pb::ProposalRecord) -> Value {
    serde_json::json!({
        "id": p.id, "proposer": p.proposer, "status": proposal_status(p.status), "action": p.action,
        "contract": p.contract, "code_hash": hex::encode(&p.code_hash), "approvals": p.approvals,
        "rejections": p.rejections, "created_height": p.created_height,
        "expiry_height": p.expiry_height, "decided_height": p.decided_height,
        "description": p.description,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_time() {
        assert_eq!(super::time_ms(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(
            super::time_ms(1_795_425_123_456),
            "2026-11-23 09:12:03.456 UTC"
        );
    }
}
