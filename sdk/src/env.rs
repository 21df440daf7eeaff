//! Raw access to the host. On wasm32 these call the imports of `govchain-abi`; natively
//! they use the in-memory host installed by [`crate::testing::TestHost::install`].
//! Contracts normally use [`crate::Context`], [`crate::Item`] and [`crate::Map`] instead.

use govchain_abi::code;

/// A storage entry: key and value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A negative host return code (see `govchain_abi::code`).
pub type HostCode = i64;

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod imp {
    //! The only unsafe code of the SDK: calls into the host with pointers into this
    //! module's own memory, whose lengths the host checks.
    #[link(wasm_import_module = "govchain")]
    unsafe extern "C" {
        fn input(out: *mut u8, cap: i32) -> i64;
        fn set_output(p: *const u8, l: i32) -> i32;
        fn storage_get(kp: *const u8, kl: i32, out: *mut u8, cap: i32) -> i64;
        fn storage_set(kp: *const u8, kl: i32, vp: *const u8, vl: i32) -> i32;
        fn storage_remove(kp: *const u8, kl: i32) -> i32;
        fn storage_next(
            pp: *const u8,
            pl: i32,
            ap: *const u8,
            al: i32,
            out: *mut u8,
            cap: i32,
        ) -> i64;
        fn caller(out: *mut u8, cap: i32) -> i64;
        fn block_height() -> i64;
        fn block_time_ms() -> i64;
        fn emit_event(kp: *const u8, kl: i32, dp: *const u8, dl: i32) -> i32;
        fn sm3(dp: *const u8, dl: i32, out: *mut u8) -> i32;
        fn sm2_verify(
            kp: *const u8,
            kl: i32,
            mp: *const u8,
            ml: i32,
            sp: *const u8,
            sl: i32,
        ) -> i32;
        fn points_balance() -> i64;
        fn read_certificate(
            ip: *const u8,
            il: i32,
            pp: *const u8,
            pl: i32,
            out: *mut u8,
            cap: i32,
        ) -> i64;
        fn abort(p: *const u8, l: i32) -> !;
    }

    /// Calls `f(buf, cap)` and grows the buffer once if the data did not fit.
    fn read_var(mut f: impl FnMut(*mut u8, i32) -> i64) -> Result<Vec<u8>, i64> {
        let mut buf = vec![0u8; 256];
        loop {
            let n = f(buf.as_mut_ptr(), buf.len() as i32);
            if n < 0 {
                return Err(n);
            }
            let n = n as usize;
            if n <= buf.len() {
                buf.truncate(n);
                return Ok(buf);
            }
            buf.resize(n, 0);
        }
    }

    pub(super) fn input_() -> Vec<u8> {
        read_var(|p, c| unsafe { input(p, c) }).unwrap_or_default()
    }
    pub(super) fn set_output_(d: &[u8]) {
        unsafe { set_output(d.as_ptr(), d.len() as i32) };
    }
    pub(super) fn storage_get_(k: &[u8]) -> Result<Vec<u8>, i64> {
        read_var(|p, c| unsafe { storage_get(k.as_ptr(), k.len() as i32, p, c) })
    }
    pub(super) fn storage_set_(k: &[u8], v: &[u8]) -> i64 {
        unsafe { storage_set(k.as_ptr(), k.len() as i32, v.as_ptr(), v.len() as i32) as i64 }
    }
    pub(super) fn storage_remove_(k: &[u8]) -> i64 {
        unsafe { storage_remove(k.as_ptr(), k.len() as i32) as i64 }
    }
    pub(super) fn storage_next_(prefix: &[u8], after: &[u8]) -> Result<Vec<u8>, i64> {
        read_var(|p, c| unsafe {
            storage_next(
                prefix.as_ptr(),
                prefix.len() as i32,
                after.as_ptr(),
                after.len() as i32,
                p,
                c,
            )
        })
    }
    pub(super) fn caller_() -> String {
        String::from_utf8(read_var(|p, c| unsafe { caller(p, c) }).unwrap_or_default())
            .unwrap_or_default()
    }
    pub(super) fn block_height_() -> u64 {
        unsafe { block_height() as u64 }
    }
    pub(super) fn block_time_ms_() -> u64 {
        unsafe { block_time_ms() as u64 }
    }
    pub(super) fn emit_event_(kind: &str, data: &[u8]) -> i64 {
        unsafe {
            emit_event(
                kind.as_ptr(),
                kind.len() as i32,
                data.as_ptr(),
                data.len() as i32,
            ) as i64
        }
    }
    pub(super) fn sm3_(d: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        unsafe { sm3(d.as_ptr(), d.len() as i32, out.as_mut_ptr()) };
        out
    }
    pub(super) fn sm2_verify_(k: &[u8], m: &[u8], s: &[u8]) -> bool {
        unsafe {
            sm2_verify(
                k.as_ptr(),
                k.len() as i32,
                m.as_ptr(),
                m.len() as i32,
                s.as_ptr(),
                s.len() as i32,
            ) == 1
        }
    }
    pub(super) fn points_balance_() -> i64 {
        unsafe { points_balance() }
    }
    pub(super) fn read_certificate_(id: &str, purpose: &str) -> Result<Vec<u8>, i64> {
        read_var(|p, c| unsafe {
            read_certificate(
                id.as_ptr(),
                id.len() as i32,
                purpose.as_ptr(),
                purpose.len() as i32,
                p,
                c,
            )
        })
    }
    pub(super) fn abort_(msg: &str) -> ! {
        unsafe { abort(msg.as_ptr(), msg.len() as i32) }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use crate::testing::with_host;

    pub(super) fn input_() -> Vec<u8> {
        with_host(|h| h.input.clone())
    }
    pub(super) fn set_output_(d: &[u8]) {
        with_host(|h| h.output = d.to_vec())
    }
    pub(super) fn storage_get_(k: &[u8]) -> Result<Vec<u8>, i64> {
        with_host(|h| {
            h.storage
                .get(k)
                .cloned()
                .ok_or(govchain_abi::code::NOT_FOUND)
        })
    }
    pub(super) fn storage_set_(k: &[u8], v: &[u8]) -> i64 {
        with_host(|h| {
            h.check_write(k, Some(v)).map_or_else(
                |c| c,
                |()| {
                    h.storage.insert(k.to_vec(), v.to_vec());
                    0
                },
            )
        })
    }
    pub(super) fn storage_remove_(k: &[u8]) -> i64 {
        with_host(|h| {
            h.check_write(k, None).map_or_else(
                |c| c,
                |()| {
                    h.storage.remove(k);
                    0
                },
            )
        })
    }
    pub(super) fn storage_next_(prefix: &[u8], after: &[u8]) -> Result<Vec<u8>, i64> {
        with_host(|h| {
            let from = if after.is_empty() {
                prefix.to_vec()
            } else {
                after.to_vec()
            };
            h.storage
                .range(from..)
                .take_while(|(k, _)| k.starts_with(prefix) || k.as_slice() < prefix)
                .find(|(k, _)| k.as_slice() > after && k.starts_with(prefix))
                .map(|(k, v)| {
                    let mut enc = (k.len() as u32).to_le_bytes().to_vec();
                    enc.extend_from_slice(k);
                    enc.extend_from_slice(v);
                    enc
                })
                .ok_or(govchain_abi::code::NOT_FOUND)
        })
    }
    pub(super) fn caller_() -> String {
        with_host(|h| h.caller.clone())
    }
    pub(super) fn block_height_() -> u64 {
        with_host(|h| h.height)
    }
    pub(super) fn block_time_ms_() -> u64 {
        with_host(|h| h.time_ms)
    }
    pub(super) fn emit_event_(kind: &str, data: &[u8]) -> i64 {
        if govchain_abi::RESERVED_EVENT_KINDS.contains(&kind) {
            return govchain_abi::code::INVALID;
        }
        with_host(|h| {
            let attrs: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(data).unwrap_or_default();
            let attrs = attrs
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect();
            h.events.push(crate::testing::Event {
                kind: kind.to_string(),
                attributes: attrs,
            });
            0
        })
    }
    pub(super) fn sm3_(_d: &[u8]) -> [u8; 32] {
        panic!("sm3 is provided by the node; native tests of contracts that hash need the VM tests")
    }
    pub(super) fn sm2_verify_(_k: &[u8], _m: &[u8], _s: &[u8]) -> bool {
        panic!(
            "sm2_verify is provided by the node; native tests of contracts that verify need the VM tests"
        )
    }
    pub(super) fn points_balance_() -> i64 {
        with_host(|h| h.points)
    }
    pub(super) fn read_certificate_(id: &str, purpose: &str) -> Result<Vec<u8>, i64> {
        with_host(|h| {
            h.certificates
                .get(&(id.to_string(), purpose.to_string()))
                .cloned()
                .ok_or(govchain_abi::code::DENIED)
        })
    }
    pub(super) fn abort_(msg: &str) -> ! {
        panic!("contract aborted: {msg}")
    }
}

/// The call's argument bytes.
pub fn input() -> Vec<u8> {
    imp::input_()
}

/// Sets the call's result bytes.
pub fn set_output(data: &[u8]) {
    imp::set_output_(data)
}

/// Reads a key of this contract's storage.
pub fn storage_get(key: &[u8]) -> Result<Option<Vec<u8>>, HostCode> {
    match imp::storage_get_(key) {
        Ok(v) => Ok(Some(v)),
        Err(code::NOT_FOUND) => Ok(None),
        Err(c) => Err(c),
    }
}

/// Writes a key of this contract's storage.
pub fn storage_set(key: &[u8], value: &[u8]) -> Result<(), HostCode> {
    match imp::storage_set_(key, value) {
        0 => Ok(()),
        c => Err(c),
    }
}

/// Removes a key of this contract's storage.
pub fn storage_remove(key: &[u8]) -> Result<(), HostCode> {
    match imp::storage_remove_(key) {
        0 => Ok(()),
        c => Err(c),
    }
}

/// The first entry with `prefix` whose key is greater than `after` (empty: from the
/// start of the prefix).
pub fn storage_next(prefix: &[u8], after: &[u8]) -> Result<Option<Entry>, HostCode> {
    match imp::storage_next_(prefix, after) {
        Ok(enc) => {
            let klen = u32::from_le_bytes(enc[..4].try_into().map_err(|_| code::INVALID)?) as usize;
            let key = enc[4..4 + klen].to_vec();
            Ok(Some((key, enc[4 + klen..].to_vec())))
        }
        Err(code::NOT_FOUND) => Ok(None),
        Err(c) => Err(c),
    }
}

/// The caller, `department` or `department/operator`.
pub fn caller() -> String {
    imp::caller_()
}

/// Height of the block being executed.
pub fn block_height() -> u64 {
    imp::block_height_()
}

/// Block time, Unix ms.
pub fn block_time_ms() -> u64 {
    imp::block_time_ms_()
}

/// Emits an event; `data` is a JSON object of string attributes.
pub fn emit_event(kind: &str, data: &[u8]) {
    imp::emit_event_(kind, data);
}

/// SM3 digest, computed by the node.
pub fn sm3(data: &[u8]) -> [u8; 32] {
    imp::sm3_(data)
}

/// Verifies a raw SM2 signature with the default ID, computed by the node.
pub fn sm2_verify(public_key_sec1: &[u8], msg: &[u8], signature: &[u8]) -> bool {
    imp::sm2_verify_(public_key_sec1, msg, signature)
}

/// The calling department's points.
pub fn points_balance() -> i64 {
    imp::points_balance_()
}

/// A certificate through the access gate; the error names the host's refusal.
pub fn read_certificate(cert_id: &str, purpose: &str) -> Result<Vec<u8>, String> {
    imp::read_certificate_(cert_id, purpose)
        .map_err(|c| format!("read_certificate({cert_id}): {}", code::name(c)))
}

/// Ends the call as failed with `msg`.
pub fn abort(msg: &str) -> ! {
    imp::abort_(msg)
}
