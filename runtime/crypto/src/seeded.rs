//! A reproducible stream of "random" bytes from a seed: SM3 in counter mode
//! (block `i` is `SM3(seed || i)`, `i` a big-endian u64). It stands in for the
//! operating system's generator where a test must reproduce every byte
//! ([`crate::PublicKey::encrypt_with_seed`]); nothing in a node uses it.

use core::convert::Infallible;

use ::sm2::elliptic_curve::rand_core::{TryCryptoRng, TryRng};

use crate::hash::sm3_parts;

/// SM3 in counter mode over a 32-byte seed.
pub(crate) struct SeedStream {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl SeedStream {
    pub(crate) fn new(seed: &[u8; 32]) -> Self {
        SeedStream {
            seed: *seed,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn fill(&mut self, dst: &mut [u8]) {
        for b in dst {
            if self.used == self.block.len() {
                self.block = sm3_parts(&[&self.seed, &self.counter.to_be_bytes()]);
                self.counter += 1;
                self.used = 0;
            }
            *b = self.block[self.used];
            self.used += 1;
        }
    }
}

impl TryRng for SeedStream {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0; 4];
        self.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0; 8];
        self.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

/// The stream is as unpredictable as its seed: a test's fixed seed is not secret.
impl TryCryptoRng for SeedStream {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_sm3_in_counter_mode_however_it_is_read() {
        let seed = [3u8; 32];
        let mut whole = [0u8; 70];
        SeedStream::new(&seed).fill(&mut whole);
        assert_eq!(whole[..32], sm3_parts(&[&seed, &0u64.to_be_bytes()]));
        assert_eq!(whole[32..64], sm3_parts(&[&seed, &1u64.to_be_bytes()]));
        let mut s = SeedStream::new(&seed);
        let mut parts = [0u8; 70];
        let (a, b) = parts.split_at_mut(5);
        s.fill(a);
        s.fill(b);
        assert_eq!(parts, whole);
    }
}
