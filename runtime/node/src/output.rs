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
