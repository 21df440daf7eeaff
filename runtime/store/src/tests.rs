//! The store's unit tests.

use super::*;

fn commit(height: u64, state: &[(&str, Option<&str>)]) -> BlockCommit {
    BlockCommit {
        height,
        hash: [height as u8; 32],
        block: vec![1, 2, height as u8],
        txs: vec![([height as u8 + 100; 32], vec![9])],
        state: state
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
            .collect(),
        index: vec![(format!("idx/{height}").into_bytes(), vec![])],
        meta: vec![],
    }
}

#[test]
fn commit_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path(), true).unwrap();
        assert_eq!(s.tip().unwrap(), None);
        s.commit_block(commit(0, &[("a", Some("1")), ("b", Some("2"))]))
            .unwrap();
        s.commit_block(commit(1, &[("a", None), ("c", Some("3"))]))
            .unwrap();
    }
    let s = Store::open(dir.path(), true).unwrap();
    assert_eq!(s.tip().unwrap().unwrap().height, 1);
    assert_eq!(s.state(b"a").unwrap(), None);
    assert_eq!(s.state(b"b").unwrap().unwrap(), b"2");
    assert_eq!(s.block(1).unwrap().unwrap(), vec![1, 2, 1]);
    assert_eq!(s.block_height(&[1; 32]).unwrap(), Some(1));
    let loc = s.tx_location(&[101; 32]).unwrap().unwrap();
    assert_eq!((loc.height, loc.index), (1, 0));
    assert!(s.has_tx(&[100; 32]).unwrap());
    assert_eq!(s.receipt(&[100; 32]).unwrap().unwrap(), vec![9]);
}

#[test]
fn rejects_a_block_that_does_not_extend_the_tip() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), false).unwrap();
    assert!(matches!(
        s.commit_block(commit(1, &[])),
        Err(StoreError::NotNext {
            height: 1,
            tip: None
        })
    ));
    s.commit_block(commit(0, &[("x", Some("1"))])).unwrap();
    assert!(s.commit_block(commit(0, &[("x", Some("2"))])).is_err());
    // The rejected commit wrote nothing.
    assert_eq!(s.state(b"x").unwrap().unwrap(), b"1");
}

#[test]
fn prefix_scans() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), false).unwrap();
    s.commit_block(commit(
        0,
        &[
            ("p/1", Some("a")),
            ("p/2", Some("b")),
            ("p/3", Some("c")),
            ("q/1", Some("d")),
            ("o/9", Some("e")),
        ],
    ))
    .unwrap();
    let keys = |it: Vec<Result<KeyValue>>| {
        it.into_iter()
            .map(|r| String::from_utf8(r.unwrap().0.to_vec()).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(s.scan_prefix(Column::State, b"p/".to_vec(), None).collect()),
        ["p/1", "p/2", "p/3"]
    );
    assert_eq!(
        keys(
            s.scan_prefix(Column::State, b"p/".to_vec(), Some(b"p/2"))
                .collect()
        ),
        ["p/2", "p/3"]
    );
    assert_eq!(
        keys(s.scan_prefix_rev(Column::State, b"p/".to_vec()).collect()),
        ["p/3", "p/2", "p/1"]
    );
}

#[test]
fn typed_tables_read_and_scan_an_in_memory_store() {
    use table::{Id, Seg, U64, Utf8};
    const NOTES: Table<Seg<Id, U64>, Utf8> = Table::new("note", Column::State, b"n/");
    let s = Store::in_memory().unwrap();
    let other = Store::in_memory().unwrap();
    let put = |dept: &str, seq: u64, v: &str| (NOTES.key((dept, seq)), Some(v.as_bytes().to_vec()));
    let mut c = commit(0, &[]);
    c.state = [
        put("tax", 1, "a"),
        put("tax", 2, "b"),
        put("tax-x", 1, "c"),
        (b"n/bad".to_vec(), Some(vec![])),
    ]
    .into_iter()
    .collect();
    s.commit_block(c).unwrap();
    assert_eq!(s.read(&NOTES, ("tax", 2)).unwrap().as_deref(), Some("b"));
    assert_eq!(s.read(&NOTES, ("tax", 3)).unwrap(), None);
    assert_eq!(
        other.tip().unwrap(),
        None,
        "every in-memory store is its own"
    );
    let tax: Vec<_> = s
        .scan(&NOTES, NOTES.within("tax"), None)
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        tax,
        [
            (("tax".into(), 1), "a".into()),
            (("tax".into(), 2), "b".into())
        ]
    );
    let from_2: Vec<_> = s
        .scan(&NOTES, NOTES.within("tax"), Some(NOTES.key(("tax", 2))))
        .collect();
    assert_eq!(from_2.len(), 1);
    let rev: Vec<_> = s
        .scan_rev(&NOTES, NOTES.within("tax"))
        .map(|r| r.unwrap().1)
        .collect();
    assert_eq!(rev, ["b", "a"]);
    let err = s
        .scan(&NOTES, NOTES.all(), None)
        .find_map(Result::err)
        .unwrap();
    assert_eq!(
        err.to_string(),
        "corrupt note: a composite key without its '/'"
    );
}

#[test]
fn metadata_appended_survives_a_reopen_and_a_range_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path(), false).unwrap();
        for k in [b"log/1a", b"log/1b", b"log/2a", b"other1"] {
            s.append_meta(k, b"v").unwrap();
        }
        s.delete_meta_range(b"log/", b"log/2").unwrap();
    }
    // The process is gone without a flush: the appends were in RocksDB's log.
    let s = Store::open(dir.path(), false).unwrap();
    let keys: Vec<Vec<u8>> = s
        .scan_prefix(Column::Meta, Vec::new(), None)
        .map(|kv| kv.unwrap().0.to_vec())
        .collect();
    assert_eq!(keys, vec![b"log/2a".to_vec(), b"other1".to_vec()]);
}
