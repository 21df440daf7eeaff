//! What the engine shows of itself, for `govchain status` and the metrics: the height
//! and round it is at, how many rounds its decisions took, and whether each peer
//! answers. Written by the engine's task and its links, read by the API.

use std::collections::BTreeMap;

use parking_lot::Mutex;

/// The engine's health, shared with the API.
#[derive(Debug, Default)]
pub struct Health(Mutex<HealthView>);

/// A copy of the engine's health at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthView {
    /// The height being decided.
    pub height: u64,
    /// The round of it this node is in.
    pub round: u32,
    /// Heights this engine decided since the node started.
    pub decided: u64,
    /// Rounds beyond the first those heights took, in all (0 when each was decided in
    /// its first round).
    pub extra_rounds: u64,
    /// The round the last decided height was decided in.
    pub last_decided_round: u32,
    /// Write-ahead log entries replayed when the node started.
    pub resumed_entries: u64,
    /// The peers this node links to, by id.
    pub peers: BTreeMap<String, PeerView>,
}

/// One peer, as this node sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerView {
    /// Its node-to-node address.
    pub addr: String,
    /// Whether the last delivery to it succeeded (`None` before the first).
    pub reachable: Option<bool>,
    /// When that last changed (Unix ms).
    pub since_ms: u64,
    /// Why the last delivery failed.
    pub error: String,
    /// The highest height a message of it was for.
    pub height: u64,
}

impl Health {
    /// A copy of the health now.
    pub fn view(&self) -> HealthView {
        self.0.lock().clone()
    }

    pub(super) fn at(&self, height: u64, round: u32) {
        let mut h = self.0.lock();
        h.height = height;
        h.round = round;
    }

    pub(super) fn decided(&self, round: u32) {
        let mut h = self.0.lock();
        h.decided += 1;
        h.extra_rounds += u64::from(round);
        h.last_decided_round = round;
    }

    pub(super) fn resumed(&self, entries: usize) {
        self.0.lock().resumed_entries = entries as u64;
    }

    /// The peers linked now (`(id, addr)`): others are forgotten.
    pub(super) fn linked(&self, peers: &[(String, String)]) {
        let mut h = self.0.lock();
        h.peers
            .retain(|id, p| peers.iter().any(|(i, a)| i == id && *a == p.addr));
        for (id, addr) in peers {
            h.peers.entry(id.clone()).or_insert_with(|| PeerView {
                addr: addr.clone(),
                ..PeerView::default()
            });
        }
    }

    /// A delivery to `peer` succeeded, or failed with `error`.
    pub(super) fn delivered(&self, peer: &str, error: Option<String>) {
        let mut h = self.0.lock();
        if let Some(p) = h.peers.get_mut(peer) {
            let reachable = error.is_none();
            if p.reachable != Some(reachable) {
                p.reachable = Some(reachable);
                p.since_ms = super::node::now_ms();
            }
            p.error = error.unwrap_or_default();
        }
    }

    /// `peer` sent a message for `height`.
    pub(super) fn heard(&self, peer: &str, height: u64) {
        if let Some(p) = self.0.lock().peers.get_mut(peer) {
            p.height = p.height.max(height);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_follow_the_links_and_keep_what_was_seen_of_them() {
        let h = Health::default();
        h.linked(&[
            ("node2".into(), "a:1".into()),
            ("node3".into(), "b:1".into()),
        ]);
        h.delivered("node2", None);
        h.delivered("node3", Some("refused".into()));
        h.heard("node2", 9);
        h.heard("node2", 7);
        h.heard("node9", 100);
        let v = h.view();
        assert_eq!(v.peers["node2"].reachable, Some(true));
        assert_eq!(v.peers["node2"].height, 9);
        assert_eq!(v.peers["node3"].reachable, Some(false));
        assert_eq!(v.peers["node3"].error, "refused");
        assert!(
            !v.peers.contains_key("node9"),
            "only linked peers are shown"
        );
        // node3 moves to another address, node2 is removed.
        h.linked(&[("node3".into(), "c:1".into())]);
        let v = h.view();
        assert_eq!(v.peers.len(), 1);
        assert_eq!(v.peers["node3"].addr, "c:1");
        assert_eq!(v.peers["node3"].reachable, None);
        h.decided(0);
        h.decided(2);
        let v = h.view();
        assert_eq!((v.decided, v.extra_rounds, v.last_decided_round), (2, 2, 2));
    }
}
