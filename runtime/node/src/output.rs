//! Human tables and `--json` output.

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;

/// A table with our style.
pub(crate) fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !header.is_empty() {
        t.set_header(header.iter().copied());
    }
    t
}

/// A two-column key/value table.
pub(crate) fn kv(rows: &[(&str, String)]) -> Table {
    let mut t = table(&[]);
    for (k, v) in rows {
        t.add_row([k.to_string(), v.clone()]);
    }
    t
}

/// Prints `value` as JSON, or runs `human` to print tables.
pub(crate) fn emit(json: bool, value: &Value, human: impl FnOnce()) {
    if json {
        println!("{}", serde_json::to_string_pretty(value).expect("json"));
    } else {
        human();
    }
}

/// Formats Unix milliseconds as UTC `YYYY-MM-DD HH:MM:SS.mmm`.
pub(crate) fn time_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
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
