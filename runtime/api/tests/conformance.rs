//! Conformance vector of the signed-read header (`conformance/vectors.json`,
//! `checked_by` = this file): what the CLI sends as `x-govchain-auth` and the node
//! parses.

#[path = "../../../conformance/harness.rs"]
mod harness;

const FILE: &str = "runtime/api/tests/conformance.rs";

#[test]
fn every_vector_of_this_file_is_checked() {
    harness::assert_file_covered(FILE, &["signed_read.header"]);
}

#[test]
fn signed_read_header() {
    let v = harness::vector("signed_read.header");
    v.check_text("metadata_key", govchain_api::auth::AUTH_METADATA);
    let value = govchain_api::auth::header_value(
        v.text("department"),
        v.text("operator"),
        v.u64("time_ms"),
        &v.bytes("nonce"),
        &v.bytes("signature"),
    );
    v.check_text("header_value", &value);
    v.finish();
}
