//! A small FxHash-style hasher (the multiply-rotate hash rustc uses) for
//! the producer's hot per-record maps, keyed by topic names the
//! application chose: SipHash's flooding resistance buys nothing there and
//! costs a noticeable share of each `send`.

use std::hash::{BuildHasher, Hasher};

/// The multiplier of rustc's FxHasher (from Firefox's hash).
const SEED: u64 = 0x517c_c1b7_2722_0a95;

/// Builds [`FxHasher`]s; use as a `HashMap`'s hasher.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxBuildHasher;

impl BuildHasher for FxBuildHasher {
    type Hasher = FxHasher;

    fn build_hasher(&self) -> FxHasher {
        FxHasher::default()
    }
}

/// Hashes 8 bytes per multiply; fine for short keys like topic names.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in chunks.by_ref() {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            if let Some(slot) = word.get_mut(..rest.len()) {
                slot.copy_from_slice(rest);
            }
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn distinct_names_hash_apart_and_maps_work() {
        let b = FxBuildHasher;
        assert_ne!(b.hash_one("orders"), b.hash_one("orders2"));
        assert_ne!(b.hash_one("abcdefgh"), b.hash_one("abcdefghi"));
        let mut map: HashMap<String, i32, FxBuildHasher> = HashMap::default();
        map.insert("a".into(), 1);
        map.insert("a-much-longer-topic-name".into(), 2);
        assert_eq!(map.get("a"), Some(&1));
        assert_eq!(map.get("a-much-longer-topic-name"), Some(&2));
    }
}
