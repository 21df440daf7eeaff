//! How a snapshot (a RocksDB checkpoint directory) travels between nodes: the meta
//! first, then every file in name order a chunk at a time, then an end message saying
//! how many files and bytes were sent. The receiver installs only a stream that
//! reached its end and matches it, so a sender that fails part-way (a disk error, its
//! process dying) can never leave a partial checkpoint to install.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use futures::{Stream, StreamExt};
use tonic::Status;

use super::pb;
use pb::snapshot_chunk::Part;

/// Size of one snapshot file chunk.
const CHUNK: usize = 4 << 20;

/// The files of a checkpoint directory, opened, in name order. Once open, a file reads
/// to its end even if a newer snapshot deletes the directory meanwhile.
pub(crate) fn open_checkpoint(db: &Path) -> std::io::Result<Vec<(String, File)>> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(db)? {
        let path = e?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push((name, File::open(&path)?));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// Sends the meta, the files, and the end message through `send` (false: the receiver
/// is gone, stop). Blocking: reads the files.
pub(crate) fn send_files(
    meta_json: String,
    files: Vec<(String, File)>,
    mut send: impl FnMut(Part) -> bool,
) -> std::io::Result<()> {
    if !send(Part::MetaJson(meta_json)) {
        return Ok(());
    }
    let count = files.len() as u32;
    let mut bytes = 0u64;
    for (name, mut f) in files {
        let mut first = true;
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = f.read(&mut buf)?;
            if n == 0 && !first {
                break;
            }
            buf.truncate(n);
            first = false;
            bytes += n as u64;
            // An empty file is sent as one empty chunk, so that it exists there too.
            if !send(Part::File(pb::FileChunk {
                name: name.clone(),
                data: buf,
            })) {
                return Ok(());
            }
            if n == 0 {
                break;
            }
        }
    }
    send(Part::End(pb::SnapshotEnd {
        files: count,
        bytes,
    }));
    Ok(())
}

fn bad(what: &str, e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{what}: {e}"))
}

/// Writes the file chunks that follow the meta into `db` and checks them against the
/// end message: a stream that stops early, repeats a file or sends anything after its
/// end is refused.
pub(crate) async fn receive_files<S>(stream: &mut S, db: &Path) -> Result<pb::SnapshotEnd, Status>
where
    S: Stream<Item = Result<pb::SnapshotChunk, Status>> + Unpin,
{
    let mut names: HashSet<String> = HashSet::new();
    let mut open: Option<(String, File)> = None;
    let mut bytes = 0u64;
    let mut end = None;
    while let Some(chunk) = stream.next().await {
        let f = match chunk?.part {
            _ if end.is_some() => return Err(bad("snapshot", "a message after its end")),
            Some(Part::File(f)) => f,
            Some(Part::End(e)) => {
                end = Some(e);
                continue;
            }
            Some(Part::MetaJson(_)) => return Err(bad("snapshot", "meta sent twice")),
            None => return Err(bad("snapshot", "an empty message")),
        };
        if f.name.is_empty() || f.name.contains(['/', '\\']) || f.name.starts_with('.') {
            return Err(bad("snapshot file name", &f.name));
        }
        if open.as_ref().is_none_or(|(n, _)| *n != f.name) {
            if !names.insert(f.name.clone()) {
                return Err(bad("snapshot file sent twice", &f.name));
            }
            let file = File::create(db.join(&f.name))
                .map_err(|e| Status::internal(format!("writing snapshot: {e}")))?;
            open = Some((f.name.clone(), file));
        }
        let (_, file) = open.as_mut().expect("opened above");
        file.write_all(&f.data)
            .map_err(|e| Status::internal(format!("writing snapshot: {e}")))?;
        bytes += f.data.len() as u64;
    }
    let got = pb::SnapshotEnd {
        files: names.len() as u32,
        bytes,
    };
    match end {
        Some(e) if e == got => Ok(got),
        Some(e) => Err(bad(
            "snapshot",
            format!(
                "{} files of {} bytes received, its end says {} files of {} bytes",
                got.files, got.bytes, e.files, e.bytes
            ),
        )),
        None => Err(Status::aborted(format!(
            "snapshot stream ended without its end message after {} files of {} bytes: \
             the sender stopped part-way",
            got.files, got.bytes
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("000009.sst"), vec![7u8; CHUNK + 10]).unwrap();
        std::fs::write(d.path().join("CURRENT"), b"MANIFEST-000005\n").unwrap();
        std::fs::write(d.path().join("LOCK"), b"").unwrap();
        d
    }

    /// What the sender sends of `files`, after the meta: the receiver's stream.
    fn stream(files: Vec<(String, File)>) -> Vec<Result<pb::SnapshotChunk, Status>> {
        let mut out = Vec::new();
        send_files("{}".into(), files, |part| {
            out.push(Ok(pb::SnapshotChunk { part: Some(part) }));
            true
        })
        .unwrap();
        let _meta = out.remove(0); // the service reads it itself
        out
    }

    async fn receive(
        chunks: Vec<Result<pb::SnapshotChunk, Status>>,
    ) -> Result<tempfile::TempDir, Status> {
        let to = tempfile::tempdir().unwrap();
        receive_files(&mut futures::stream::iter(chunks), to.path()).await?;
        Ok(to)
    }

    #[tokio::test]
    async fn a_checkpoint_arrives_whole_even_if_its_directory_goes_meanwhile() {
        let from = checkpoint();
        let files = open_checkpoint(from.path()).unwrap();
        let want: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(n, _)| (n.clone(), std::fs::read(from.path().join(n)).unwrap()))
            .collect();
        // a newer snapshot replaces this one after its files were opened
        std::fs::remove_dir_all(from.path()).unwrap();
        let to = receive(stream(files)).await.unwrap();
        for (name, data) in want {
            assert_eq!(
                std::fs::read(to.path().join(&name)).unwrap(),
                data,
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn a_stream_cut_short_or_tampered_with_is_refused() {
        let from = checkpoint();
        let whole = stream(open_checkpoint(from.path()).unwrap());
        assert!(receive(whole.clone()).await.is_ok());

        // the sender stopped part-way: every file but no end message
        let mut cut = whole.clone();
        cut.pop();
        let e = receive(cut).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::Aborted, "{e}");
        assert!(e.message().contains("without its end message"), "{e}");

        // a chunk lost on the way
        let mut lost = whole.clone();
        let _lost = lost.remove(1);
        let e = receive(lost).await.unwrap_err();
        assert!(e.message().contains("its end says"), "{e}");

        // a file that comes back later would overwrite what was written
        let mut again = whole.clone();
        let first = again[0].clone();
        again.insert(again.len() - 1, first);
        let e = receive(again).await.unwrap_err();
        assert!(e.message().contains("sent twice"), "{e}");

        // nothing may follow the end
        let mut after = whole.clone();
        after.push(whole[0].clone());
        let e = receive(after).await.unwrap_err();
        assert!(e.message().contains("after its end"), "{e}");

        // a name that leaves the directory
        let mut escape = whole;
        escape.insert(
            0,
            Ok(pb::SnapshotChunk {
                part: Some(Part::File(pb::FileChunk {
                    name: "../x".into(),
                    data: vec![1],
                })),
            }),
        );
        let e = receive(escape).await.unwrap_err();
        assert!(e.message().contains("file name"), "{e}");
    }
}
