//! Codec and table tests.

use super::*;

const GRANTS: Table<Seg<Id, U64>, Unit> = Table::new("grant", Column::State, b"g/");
const AUDIT_BY: Table<Seg<Seg<Tag, Id>, U64>, Unit> = Table::new("audit by", Column::Index, b"ax/");
const BY_TIME: Table<Cat<U64, U64>, Unit> = Table::new("audit by time", Column::Index, b"at/");

#[test]
fn composite_keys_round_trip_even_when_numbers_hold_a_slash() {
    let id = u64::from_be_bytes(*b"//////\x00/");
    let k = GRANTS.key(("cert-1", id));
    assert_eq!(&k[..9], b"g/cert-1/");
    assert_eq!(GRANTS.decode_key(&k).unwrap(), ("cert-1".to_string(), id));
    assert!(k.starts_with(&GRANTS.within("cert-1")));
    assert!(!k.starts_with(&GRANTS.within("cert")));
    let k = AUDIT_BY.key((('r', "tax"), 7));
    assert_eq!(k, b"ax/r/tax/\0\0\0\0\0\0\0\x07");
    assert_eq!(
        AUDIT_BY.decode_key(&k).unwrap(),
        (('r', "tax".to_string()), 7)
    );
    let k = BY_TIME.key((5, 6));
    assert_eq!(k.len(), 3 + 16);
    assert_eq!(BY_TIME.decode_key(&k).unwrap(), (5, 6));
}

#[test]
fn hex_keys_round_trip_and_reject_non_hex() {
    const BY_SUBJECT: Table<Seg<Hex, Id>, Unit> = Table::new("by subject", Column::State, b"cs/");
    let k = BY_SUBJECT.key((&[0xab, 0x01], "c"));
    assert_eq!(k, b"cs/ab01/c");
    assert_eq!(
        BY_SUBJECT.decode_key(&k).unwrap(),
        (vec![0xab, 0x01], "c".to_string())
    );
    let err = BY_SUBJECT.decode_key(b"cs/zz/c").unwrap_err();
    assert_eq!(err.table, "by subject");
    assert!(err.reason.contains("hex"), "{err}");
}

#[test]
fn corrupt_records_name_their_table() {
    let err = GRANTS.decode_key(b"g/no-separator").unwrap_err();
    assert_eq!(
        err.to_string(),
        "corrupt grant record: a composite key without its '/'"
    );
    assert!(GRANTS.decode_key(b"x/other/\0\0\0\0\0\0\0\0").is_err());
    const COUNTER: Table<Single, U64> = Table::new("counter", Column::State, b"c/n");
    assert_eq!(COUNTER.decode_value(&7u64.to_be_bytes()).unwrap(), 7);
    assert!(
        COUNTER
            .decode_value(&[1, 2, 3])
            .unwrap_err()
            .reason
            .contains("3 bytes")
    );
}

#[test]
fn overlapping_prefixes_are_found() {
    const A: Table<Text, Unit> = Table::new("a", Column::State, b"c/");
    const B: Table<Single, U64> = Table::new("b", Column::State, b"c/salt");
    const C: Table<Single, U64> = Table::new("c", Column::Index, b"c/");
    assert!(
        check_prefix_free(&[&A, &C]).is_ok(),
        "other columns do not overlap"
    );
    let err = check_prefix_free(&[&A, &B]).unwrap_err();
    assert!(err.contains("overlap"), "{err}");
    assert!(check_prefix_free(&[&A, &A]).unwrap_err().contains("named"));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Identifiers as admission lets them through: no `/`, possibly empty or non-ASCII.
    fn id() -> impl Strategy<Value = String> {
        "[^/]{0,12}"
    }

    proptest! {
        /// Every composite key decodes back to its parts, whatever bytes its numbers hold.
        #[test]
        fn keys_round_trip(a in id(), b in id(), n in any::<u64>(), m in any::<u64>(), t in "[a-z]", h in proptest::collection::vec(any::<u8>(), 0..40)) {
            const JOBS: Table<Seg<Seg<Id, Id>, I64>, Unit> = Table::new("jobs", Column::State, b"jq/");
            const BY_SUBJECT: Table<Seg<Hex, Id>, Unit> = Table::new("by subject", Column::State, b"cs/");
            let tag = t.chars().next().unwrap();
            prop_assert_eq!(GRANTS.decode_key(&GRANTS.key((&a, n))).unwrap(), (a.clone(), n));
            prop_assert_eq!(AUDIT_BY.decode_key(&AUDIT_BY.key(((tag, &a), n))).unwrap(), ((tag, a.clone()), n));
            prop_assert_eq!(BY_TIME.decode_key(&BY_TIME.key((n, m))).unwrap(), (n, m));
            let day = n as i64;
            prop_assert_eq!(JOBS.decode_key(&JOBS.key(((&a, &b), day))).unwrap(), ((a.clone(), b.clone()), day));
            prop_assert_eq!(BY_SUBJECT.decode_key(&BY_SUBJECT.key((&h, &b))).unwrap(), (h, b));
        }

        /// A scan under one identifier sees that identifier's records and no other's, even
        /// when one identifier starts the other.
        #[test]
        fn a_scan_under_an_id_sees_only_its_records(a in id(), b in id(), n in any::<u64>()) {
            let key = GRANTS.key((&b, n));
            prop_assert_eq!(key.starts_with(&GRANTS.within(&a)), a == b);
            let key = AUDIT_BY.key((('r', &b), n));
            prop_assert_eq!(key.starts_with(&AUDIT_BY.within(('r', &a))), a == b);
        }
    }
}
