//! Every protobuf message a node decodes from a client or a peer (`govchain_fuzz::network`):
//! the first byte picks the message, the rest is decoded as it; whatever decodes must
//! survive a re-encoding unchanged, and so must the messages it carries.
#![no_main]

use govchain_fuzz::network;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some((&selector, bytes)) = data.split_first() {
        (network::kind(selector).check)(bytes);
    }
});
