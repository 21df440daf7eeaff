//! The operations `gate_sequence` runs, and their byte encoding: every 8 bytes of an
//! input are one operation, so that libFuzzer's byte mutations change one operation at
//! a time and seeds are easy to write (`examples/seeds.rs`).
//!
//! `[kind, a, b, c, d, e, f, g]`, `kind` modulo 5:
//! - 0 publish: issuer `a`, type `b`, number `c`, expiry day `e` if `d` is odd;
//! - 1 grant: sender `a`, certificate `b`, grantee `c`, purpose `d`, last height `e`
//!   (0: none), last day `g` if `f` is odd;
//! - 2 request: sender `a`, certificate `b`, purpose `c`;
//! - 3 revoke: sender `a`, certificate `b`, grant `d` if `c` is odd (else the
//!   certificate);
//! - 4 end of block, the next one `a` modulo 3: 5 seconds, an hour or a day later.
//!
//! Indices pick modulo the choices there are; days count from the day before
//! yesterday at genesis (so 0 and 1 are in the past).

/// Bytes of one encoded operation.
pub const OP_LEN: usize = 8;

/// One operation of a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `issuer` publishes certificate `N-<number>` of a type (issuer of it or not).
    Publish {
        /// Department index.
        issuer: u8,
        /// Certificate type index.
        cert_type: u8,
        /// The certificate number's suffix.
        number: u8,
        /// Expiry day.
        expires: Option<u8>,
    },
    /// `sender` grants `grantee` reads of a certificate for a purpose.
    Grant {
        /// Department index.
        sender: u8,
        /// Certificate index.
        cert: u8,
        /// Department index.
        grantee: u8,
        /// Purpose index.
        purpose: u8,
        /// Last height (0: none).
        until_height: u8,
        /// Last day.
        until: Option<u8>,
    },
    /// `sender` asks to read a certificate for a purpose.
    Request {
        /// Department index.
        sender: u8,
        /// Certificate index.
        cert: u8,
        /// Purpose index.
        purpose: u8,
    },
    /// `sender` revokes a certificate, or one of its grants.
    Revoke {
        /// Department index.
        sender: u8,
        /// Certificate index.
        cert: u8,
        /// Index among the certificate's grants; `None` revokes the certificate.
        grant: Option<u8>,
    },
    /// Ends the block.
    EndBlock(Step),
}

/// How much later the next block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// 5 seconds.
    Seconds,
    /// An hour.
    Hour,
    /// A day.
    Day,
}

impl Step {
    /// The step in milliseconds.
    pub fn ms(self) -> u64 {
        match self {
            Step::Seconds => 5_000,
            Step::Hour => 3_600_000,
            Step::Day => 86_400_000,
        }
    }
}

fn odd(flag: u8, value: u8) -> Option<u8> {
    (flag % 2 == 1).then_some(value)
}

fn flag(value: Option<u8>) -> (u8, u8) {
    value.map_or((0, 0), |v| (1, v))
}

impl Op {
    /// The operations of an input (a trailing partial operation is ignored).
    pub fn decode_all(data: &[u8]) -> impl Iterator<Item = Op> + '_ {
        data.chunks_exact(OP_LEN)
            .map(|c| Op::decode(c.try_into().expect("chunks of OP_LEN bytes")))
    }

    /// The operation of 8 bytes.
    pub fn decode([kind, a, b, c, d, e, f, g]: [u8; OP_LEN]) -> Op {
        match kind % 5 {
            0 => Op::Publish {
                issuer: a,
                cert_type: b,
                number: c,
                expires: odd(d, e),
            },
            1 => Op::Grant {
                sender: a,
                cert: b,
                grantee: c,
                purpose: d,
                until_height: e,
                until: odd(f, g),
            },
            2 => Op::Request {
                sender: a,
                cert: b,
                purpose: c,
            },
            3 => Op::Revoke {
                sender: a,
                cert: b,
                grant: odd(c, d),
            },
            _ => Op::EndBlock(match a % 3 {
                0 => Step::Seconds,
                1 => Step::Hour,
                _ => Step::Day,
            }),
        }
    }

    /// The 8 bytes [`Op::decode`] turns into this operation.
    pub fn encode(self) -> [u8; OP_LEN] {
        match self {
            Op::Publish {
                issuer,
                cert_type,
                number,
                expires,
            } => {
                let (d, e) = flag(expires);
                [0, issuer, cert_type, number, d, e, 0, 0]
            }
            Op::Grant {
                sender,
                cert,
                grantee,
                purpose,
                until_height,
                until,
            } => {
                let (f, g) = flag(until);
                [1, sender, cert, grantee, purpose, until_height, f, g]
            }
            Op::Request {
                sender,
                cert,
                purpose,
            } => [2, sender, cert, purpose, 0, 0, 0, 0],
            Op::Revoke {
                sender,
                cert,
                grant,
            } => {
                let (c, d) = flag(grant);
                [3, sender, cert, c, d, 0, 0, 0]
            }
            Op::EndBlock(step) => {
                let a = match step {
                    Step::Seconds => 0,
                    Step::Hour => 1,
                    Step::Day => 2,
                };
                [4, a, 0, 0, 0, 0, 0, 0]
            }
        }
    }
}
