//! Receipt events, typed. Execution emits them through [`Event::to_pb`], and a client
//! reads them back with [`Event::parse`], so the names and attributes of an event are
//! written down once, here.
//!
//! On the wire an event is a kind and a list of string attributes in a fixed order (the
//! order below). Numbers are decimal, booleans `true`/`false`. A contract's events carry
//! the contract's name as their first attribute, `contract`, and may not use a kind of
//! this list ([`is_system_kind`], the same as `govchain_abi::RESERVED_EVENT_KINDS`, which the
//! contract runtime refuses), so an event a client reads as
//! typed came from the chain itself.

use crate::pb;

/// Why an event could not be read as typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// An attribute does not parse as its type.
    #[error("{kind} event: '{key}' = {value:?} is not a {ty}")]
    Invalid {
        /// Event kind.
        kind: &'static str,
        /// Attribute key.
        key: &'static str,
        /// Its value.
        value: String,
        /// The type it should have.
        ty: &'static str,
    },
    /// A system event whose attributes are not exactly its own, in order.
    #[error("{kind} event has attributes [{found}], not its own")]
    Shape {
        /// Event kind.
        kind: &'static str,
        /// The keys found.
        found: String,
    },
    /// An event that is neither a system event nor a contract's.
    #[error("event '{0}' is not a system event and names no contract")]
    Unknown(String),
}

/// A value of an event attribute.
trait Attr: Sized {
    const TYPE: &'static str;
    fn write(&self) -> String;
    fn read(s: &str) -> Option<Self>;
}

impl Attr for String {
    const TYPE: &'static str = "string";
    fn write(&self) -> String {
        self.clone()
    }
    fn read(s: &str) -> Option<Self> {
        Some(s.to_string())
    }
}

macro_rules! number_attr {
    ($($t:ty),*) => {$(
        impl Attr for $t {
            const TYPE: &'static str = stringify!($t);
            fn write(&self) -> String {
                self.to_string()
            }
            fn read(s: &str) -> Option<Self> {
                s.parse().ok()
            }
        }
    )*};
}
number_attr!(u64, u32, i64, bool);

fn attr<T: Attr>(value: &str, kind: &'static str, key: &'static str) -> Result<T, EventError> {
    T::read(value).ok_or_else(|| EventError::Invalid {
        kind,
        key,
        value: value.to_string(),
        ty: T::TYPE,
    })
}

/// A system event has exactly its attributes, in order (a contract's event of the
/// same kind would start with `contract`).
fn exact_keys(e: &pb::Event, kind: &'static str, keys: &[&'static str]) -> Result<(), EventError> {
    let found = e.attributes.iter().map(|a| a.key.as_str());
    if found.clone().eq(keys.iter().copied()) {
        return Ok(());
    }
    Err(EventError::Shape {
        kind,
        found: found.collect::<Vec<_>>().join(","),
    })
}

/// One kind of system event, for picking it out of a receipt's events.
pub trait SystemEvent: Sized {
    /// Its wire kind.
    const KIND: &'static str;
    /// `e` if it is of this kind.
    fn of(e: &Event) -> Option<&Self>;
}

macro_rules! events {
    ($(
        $(#[$doc:meta])*
        $name:ident = $kind:literal {
            $( $(#[$fdoc:meta])* $field:ident: $ty:ty = $key:literal, )*
        }
    )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, Eq, Default)]
            pub struct $name {
                $( $(#[$fdoc])* pub $field: $ty, )*
            }
        )*

        /// An event of a receipt.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Event {
            $( $(#[$doc])* $name($name), )*
            /// An event a contract emitted.
            Contract(ContractEvent),
        }

        /// The kinds only the chain emits.
        pub const SYSTEM_KINDS: &[&str] = &[$($kind),*];

        impl Event {
            /// The wire form.
            pub fn to_pb(&self) -> pb::Event {
                match self {
                    $(
                        Event::$name(e) => pb::Event {
                            kind: $kind.into(),
                            attributes: vec![$(pb::Attribute {
                                key: $key.into(),
                                value: e.$field.write(),
                            }),*],
                        },
                    )*
                    Event::Contract(c) => c.to_pb(),
                }
            }

            /// Reads a wire event.
            pub fn parse(e: &pb::Event) -> Result<Event, EventError> {
                match e.kind.as_str() {
                    $(
                        $kind => {
                            exact_keys(e, $kind, &[$($key),*])?;
                            let mut values = e.attributes.iter().map(|a| a.value.as_str());
                            Ok(Event::$name($name {
                                $( $field: attr(values.next().unwrap_or_default(), $kind, $key)?, )*
                            }))
                        }
                    )*
                    _ => ContractEvent::parse(e).map(Event::Contract),
                }
            }

            /// The wire kind.
            pub fn kind(&self) -> &str {
                match self {
                    $( Event::$name(_) => $kind, )*
                    Event::Contract(c) => &c.kind,
                }
            }
        }

        $(
            impl From<$name> for Event {
                fn from(e: $name) -> Event {
                    Event::$name(e)
                }
            }

            impl SystemEvent for $name {
                const KIND: &'static str = $kind;
                fn of(e: &Event) -> Option<&Self> {
                    match e {
                        Event::$name(x) => Some(x),
                        _ => None,
                    }
                }
            }
        )*
    };
}

events! {
    /// A gate decision on a read or a compute job, allowed or denied.
    Access = "access" {
        /// Audit sequence number (and access request id).
        request: u64 = "request",
        /// Certificate id.
        cert: String = "cert",
        /// Requesting account (`dept` or `dept/operator`).
        requester: String = "requester",
        /// Owning department.
        owner: String = "owner",
        /// Declared purpose.
        purpose: String = "purpose",
        /// `allow` or `deny`.
        decision: String = "decision",
        /// Why, in words.
        reason: String = "reason",
        /// Points charged.
        points: u64 = "points",
    }
    /// A certificate was published.
    CertificatePublished = "certificate_published" {
        /// Certificate id.
        id: String = "id",
        /// Certificate type.
        cert_type: String = "type",
        /// Its number.
        number: String = "number",
        /// Issuing department.
        issuer: String = "issuer",
        /// Points the issuer earned.
        reward: u64 = "reward",
    }
    /// A grant was created.
    GrantCreated = "grant_created" {
        /// Grant id.
        grant: u64 = "grant",
        /// Certificate id.
        cert: String = "cert",
        /// Department granted.
        grantee: String = "grantee",
        /// Purpose granted.
        purpose: String = "purpose",
    }
    /// A certificate was revoked.
    CertificateRevoked = "certificate_revoked" {
        /// Certificate id.
        cert: String = "cert",
    }
    /// A grant was revoked.
    GrantRevoked = "grant_revoked" {
        /// Certificate id.
        cert: String = "cert",
        /// Grant id.
        grant: u64 = "grant",
    }
    /// A department's or operator's key was replaced (or an operator revoked); the old
    /// key is refused from this block on.
    KeyRotated = "key_rotated" {
        /// Department.
        department: String = "department",
        /// Operator (empty: the department's own key).
        operator: String = "operator",
        /// The approving proposal (0: the department or operator rotated it itself).
        proposal: u64 = "proposal",
        /// `rotated`, `replaced` or `revoked`.
        change: String = "change",
    }
    /// A validator approved releasing its key share for an access request (the share
    /// follows once this commits).
    ReleaseApproved = "release_approved" {
        /// Access request.
        request: u64 = "request",
        /// Share index.
        share: u32 = "share",
        /// Validator.
        validator: String = "validator",
    }
    /// A validator released its key share for an access request.
    KeyReleased = "key_released" {
        /// Access request.
        request: u64 = "request",
        /// Share index.
        share: u32 = "share",
        /// Validator.
        validator: String = "validator",
        /// Requesting account.
        requester: String = "requester",
        /// Certificate id.
        cert: String = "cert",
    }
    /// A validator dealt in a custody key generation round.
    KeygenDealt = "keygen_dealt" {
        /// Round.
        round: u64 = "round",
        /// The dealer's share number.
        dealer: u32 = "dealer",
        /// Validator.
        validator: String = "validator",
    }
    /// A holder reported which dealings gave it a bad sub-share (none: all good).
    KeygenComplained = "keygen_complained" {
        /// Round.
        round: u64 = "round",
        /// The holder's share number.
        holder: u32 = "holder",
        /// The dealers complained against, comma-separated share numbers (empty: none).
        against: String = "against",
    }
    /// A dealer revealed a sub-share a holder complained about, and it matched.
    KeygenAnswered = "keygen_answered" {
        /// Round.
        round: u64 = "round",
        /// The dealer's share number.
        dealer: u32 = "dealer",
        /// The complaining holder's share number.
        holder: u32 = "holder",
    }
    /// A key generation round ended: with the custody key (`key_set` set) or, with too
    /// few qualified dealers, failed (the next round starts).
    KeygenEnded = "keygen_ended" {
        /// Round.
        round: u64 = "round",
        /// The qualified dealers, comma-separated share numbers.
        qualified: String = "qualified",
        /// The key set, hex (its first 65 bytes: the custody key); empty if it failed.
        key_set: String = "key_set",
    }
    /// A compute job was accepted.
    ComputeRequested = "compute_requested" {
        /// Access request.
        request: u64 = "request",
        /// Contract that runs the job.
        contract: String = "contract",
        /// Its method.
        method: String = "method",
        /// Validator assigned to run it.
        executor: String = "executor",
    }
    /// A compute job's result was posted.
    ComputeResult = "compute_result" {
        /// Access request.
        request: u64 = "request",
        /// Validator that ran it.
        executor: String = "executor",
        /// `ok` or `failed`.
        status: String = "status",
        /// Gas the job used.
        gas_used: u64 = "gas_used",
    }
    /// A validator's equivocation (two contradicting signatures) was recorded.
    Equivocation = "equivocation" {
        /// The validator that equivocated.
        validator: String = "validator",
        /// Height of the contradicting messages.
        height: u64 = "height",
        /// Their round.
        round: u32 = "round",
        /// `prevote`, `precommit` or `proposal`.
        step: String = "step",
        /// The validator that reported it.
        reporter: String = "reporter",
    }
    /// A department anchored a digest.
    Anchor = "anchor" {
        /// Department.
        department: String = "department",
        /// Its key for the digest.
        key: String = "key",
        /// The digest, hex.
        digest: String = "digest",
    }
    /// A governance proposal was created.
    ProposalCreated = "proposal_created" {
        /// Proposal id.
        id: u64 = "id",
        /// What it does, in words.
        action: String = "action",
        /// Height after which it expires.
        expiry_height: u64 = "expiry_height",
    }
    /// A committee member voted.
    Vote = "vote" {
        /// Proposal id.
        id: u64 = "id",
        /// Voting department.
        department: String = "department",
        /// Approve or reject.
        approve: bool = "approve",
    }
    /// A proposal expired undecided.
    ProposalExpired = "proposal_expired" {
        /// Proposal id.
        id: u64 = "id",
    }
    /// A proposal was rejected.
    ProposalRejected = "proposal_rejected" {
        /// Proposal id.
        id: u64 = "id",
    }
    /// The access policy changed.
    PolicyChanged = "policy_changed" {
        /// Proposal id.
        proposal: u64 = "proposal",
        /// New policy version.
        version: u64 = "version",
        /// Lines added, `; `-separated.
        added: String = "added",
        /// Lines removed, `; `-separated.
        removed: String = "removed",
        /// First height the new policy applies to.
        effective_height: u64 = "effective_height",
    }
    /// A certificate type was registered or updated.
    CertTypeRegistered = "cert_type_registered" {
        /// Proposal id.
        proposal: u64 = "proposal",
        /// Certificate type.
        cert_type: String = "type",
    }
    /// A purpose was registered.
    PurposeRegistered = "purpose_registered" {
        /// Proposal id.
        proposal: u64 = "proposal",
        /// Purpose.
        purpose: String = "purpose",
    }
    /// Governance adjusted a department's points.
    PointsAdjusted = "points_adjusted" {
        /// Proposal id.
        proposal: u64 = "proposal",
        /// Department.
        department: String = "department",
        /// Change.
        delta: i64 = "delta",
    }
    /// The points parameters changed.
    PointsParamsChanged = "points_params_changed" {
        /// Proposal id.
        proposal: u64 = "proposal",
    }
    /// A contract was deployed or upgraded.
    ContractDeployed = "contract_deployed" {
        /// Contract name.
        contract: String = "contract",
        /// Its new version.
        version: u32 = "version",
        /// SM3 of its code, hex.
        code_hash: String = "code_hash",
        /// Proposal id.
        proposal: u64 = "proposal",
    }
    /// A node was removed.
    NodeRemoved = "node_removed" {
        /// Proposal id.
        proposal: u64 = "proposal",
        /// Node id.
        node: String = "node",
    }
    /// A node was added.
    NodeAdded = "node_added" {
        /// Proposal id.
        proposal: u64 = "proposal",
        /// Node id.
        node: String = "node",
        /// `validator` or `observer`.
        node_kind: String = "kind",
        /// Its node-to-node address (ip:port).
        addr: String = "addr",
    }
}

/// Whether `kind` is one only the chain emits.
pub fn is_system_kind(kind: &str) -> bool {
    SYSTEM_KINDS.contains(&kind)
}

/// An event a contract emitted: its kind and attributes as written, after the
/// `contract` attribute that names it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContractEvent {
    /// The contract.
    pub contract: String,
    /// Kind, as the contract named it.
    pub kind: String,
    /// Attributes, in the contract's order.
    pub attributes: Vec<(String, String)>,
}

impl ContractEvent {
    fn to_pb(&self) -> pb::Event {
        let mut attributes = vec![pb::Attribute {
            key: "contract".into(),
            value: self.contract.clone(),
        }];
        attributes.extend(self.attributes.iter().map(|(key, value)| pb::Attribute {
            key: key.clone(),
            value: value.clone(),
        }));
        pb::Event {
            kind: self.kind.clone(),
            attributes,
        }
    }

    fn parse(e: &pb::Event) -> Result<ContractEvent, EventError> {
        match e.attributes.split_first() {
            Some((first, rest)) if first.key == "contract" && !is_system_kind(&e.kind) => {
                Ok(ContractEvent {
                    contract: first.value.clone(),
                    kind: e.kind.clone(),
                    attributes: rest
                        .iter()
                        .map(|a| (a.key.clone(), a.value.clone()))
                        .collect(),
                })
            }
            _ => Err(EventError::Unknown(e.kind.clone())),
        }
    }
}

impl Access {
    /// Whether the gate allowed the access.
    pub fn allowed(&self) -> bool {
        self.decision == "allow"
    }
}

/// The typed events of a receipt, in order; an event that does not parse is an error
/// (a receipt from a node of another version, or a forged one).
pub fn events_of(r: &pb::Receipt) -> Result<Vec<Event>, EventError> {
    r.events.iter().map(Event::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_the_wire_order() {
        let e = Event::from(Access {
            request: 7,
            cert: "c".into(),
            requester: "tax/op".into(),
            owner: "housing".into(),
            purpose: "tax-audit".into(),
            decision: "allow".into(),
            reason: "policy".into(),
            points: 3,
        });
        let wire = e.to_pb();
        let keys: Vec<_> = wire.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "request",
                "cert",
                "requester",
                "owner",
                "purpose",
                "decision",
                "reason",
                "points"
            ]
        );
        assert_eq!(Event::parse(&wire).unwrap(), e);
    }

    #[test]
    fn contract_events_cannot_pass_as_system_events() {
        let forged = ContractEvent {
            contract: "evil".into(),
            kind: "access".into(),
            attributes: vec![("request".into(), "1".into())],
        }
        .to_pb();
        // A system kind whose attributes are not exactly its own is refused.
        assert_eq!(
            Event::parse(&forged).unwrap_err().to_string(),
            "access event has attributes [contract,request], not its own"
        );
        let fine = ContractEvent {
            contract: "loans".into(),
            kind: "scored".into(),
            attributes: vec![("score".into(), "700".into())],
        };
        assert_eq!(
            Event::parse(&fine.to_pb()).unwrap(),
            Event::Contract(fine.clone())
        );
        assert!(is_system_kind("key_released") && !is_system_kind("scored"));
    }

    #[test]
    fn the_contract_interface_reserves_exactly_these_kinds() {
        assert_eq!(SYSTEM_KINDS, govchain_abi::RESERVED_EVENT_KINDS);
    }

    #[test]
    fn bad_numbers_name_the_attribute() {
        let mut wire = Event::from(ProposalExpired { id: 3 }).to_pb();
        wire.attributes[0].value = "x".into();
        assert_eq!(
            Event::parse(&wire).unwrap_err().to_string(),
            "proposal_expired event: 'id' = \"x\" is not a u64"
        );
    }
}
