//! The path index: open addressing with linear probing, keyed by xxh3-64 of the full path.
//!
//! The home slot is `(hash * slots) >> 64` (a multiply, not a modulo, so any slot count
//! works); the slot's tag is the low 32 bits of the hash. Builder and reader share these
//! functions so they cannot disagree.

use super::layout::{EMPTY_SLOT, IndexSlot, U32Le};

/// xxh3-64 of a path's bytes.
pub(crate) fn path_hash(path: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(path.as_bytes())
}

/// The home slot of `hash` in a table of `slots` slots (`slots > 0`).
pub(crate) fn home_slot(hash: u64, slots: usize) -> usize {
    ((u128::from(hash) * slots as u128) >> 64) as usize
}

/// The tag stored beside an entry index.
pub(crate) fn tag(hash: u64) -> u32 {
    hash as u32
}

/// How many slots an archive of `entries` entries gets: about 1.33x, at least one more than
/// the entries so every probe sequence meets an empty slot.
pub(crate) fn slot_count(entries: usize) -> usize {
    entries + entries / 3 + 1
}

/// Builds the table for `paths`, where `paths[i]` is entry `i`'s path (all distinct).
pub(crate) fn build(paths: &[&str]) -> Vec<IndexSlot> {
    let slots = slot_count(paths.len());
    let empty = IndexSlot {
        entry: U32Le::new(EMPTY_SLOT),
        tag: U32Le::new(0),
    };
    let mut table = vec![empty; slots];
    for (index, path) in paths.iter().enumerate() {
        let hash = path_hash(path);
        let mut slot = home_slot(hash, slots);
        while table[slot].entry.get() != EMPTY_SLOT {
            slot = if slot + 1 == slots { 0 } else { slot + 1 };
        }
        table[slot] = IndexSlot {
            entry: U32Le::new(index as u32),
            tag: U32Le::new(tag(hash)),
        };
    }
    table
}

/// Candidate entry indices for `path`, in probe order: every occupied slot whose tag matches,
/// until an empty slot (or, in a hostile full table, after one full turn). The caller compares
/// the paths.
pub(crate) fn candidates<'t>(table: &'t [IndexSlot], path: &str) -> impl Iterator<Item = u32> + 't {
    let hash = path_hash(path);
    let wanted = tag(hash);
    let slots = table.len();
    let start = if slots == 0 {
        0
    } else {
        home_slot(hash, slots)
    };
    (0..slots)
        .map(move |step| &table[(start + step) % slots])
        .take_while(|slot| slot.entry.get() != EMPTY_SLOT)
        .filter(move |slot| slot.tag.get() == wanted)
        .map(|slot| slot.entry.get())
}
