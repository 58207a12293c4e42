//! Redis Cluster hash slots: the slot of a key, computed as Redis does, and the choice of a
//! rotated id whose session key lands in the slot of the old one, so that a rotation on a
//! cluster is one atomic script over two keys of one slot.
//!
//! Redis hashes a key to `CRC16(part) mod 16384`, CRC16 being XMODEM (polynomial 0x1021,
//! initial value 0, no reflection, no final xor) and `part` the key's hash tag (the bytes
//! between its first `{` and the first `}` after it, when there are any) or else the whole
//! key. Ids have no braces, so a session key `{prefix}{id}` has the hash tag of its prefix:
//! with one, every key of the prefix is in one slot and any id does; without one, the slot
//! depends on the whole key, prefix and id.

use crate::id::{self, ID_BYTES};
use once_cell::sync::Lazy;

/// Hash slots of a Redis Cluster (a power of two: `mod` is a mask).
const SLOTS: usize = 16_384;
const SLOT_MASK: u16 = (SLOTS - 1) as u16;

/// The id bytes a search varies: the last two. The first 30 bytes spell the first 40
/// characters of the id on their own (base64 turns each 3 bytes into 4 characters), and the
/// last two the last 3 characters: so a tail changes those 3 characters and nothing else.
const TAIL_BYTES: usize = 2;
const HEAD_BYTES: usize = ID_BYTES - TAIL_BYTES;
const HEAD_CHARS: usize = HEAD_BYTES / 3 * 4;
const TAIL_CHARS: usize = 3;
const TAILS: usize = 1 << (8 * TAIL_BYTES);

static CRC_TABLE: [u16; 256] = crc_table();

const fn crc_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// CRC16-XMODEM of `bytes`, continued from `crc` (0 to start).
fn crc16(crc: u16, bytes: &[u8]) -> u16 {
    bytes.iter().fold(crc, |crc, &b| {
        (crc << 8) ^ CRC_TABLE[usize::from((crc >> 8) as u8 ^ b)]
    })
}

/// The hash tag of `key`, if it has one (an empty `{}` is none, as in Redis).
fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let rest = &key[open + 1..];
    let len = rest.iter().position(|&b| b == b'}')?;
    (len > 0).then(|| &rest[..len])
}

/// The cluster slot of `key`.
pub(crate) fn of(key: &[u8]) -> u16 {
    crc16(0, hash_tag(key).unwrap_or(key)) & SLOT_MASK
}

/// Every tail (its two bytes, big-endian), grouped by the slot bits its three characters
/// contribute to a key's CRC.
///
/// CRC16 without a final xor is linear: `crc16(s, t) = crc16(s, 000) ^ crc16(0, t)` for any
/// state `s` and 3-byte `t`. So the tails that put a key in a given slot, after any prefix
/// and head, are exactly one group of this table, found in constant time.
struct TailGroups {
    /// The tails, grouped by `crc16(0, their characters) & SLOT_MASK`.
    tails: Vec<u16>,
    /// Group `g` is `tails[start[g]..start[g + 1]]`.
    start: Vec<u32>,
    /// The size of the largest group.
    largest: u32,
}

static GROUPS: Lazy<TailGroups> = Lazy::new(|| {
    let mut bits = vec![0u16; TAILS];
    let mut start = vec![0u32; SLOTS + 1];
    let mut bytes = [0u8; ID_BYTES];
    for tail in 0..=u16::MAX {
        bytes[HEAD_BYTES..].copy_from_slice(&tail.to_be_bytes());
        let spelled = id::encode(&bytes);
        let b = crc16(0, &spelled.as_bytes()[HEAD_CHARS..]) & SLOT_MASK;
        bits[usize::from(tail)] = b;
        start[usize::from(b) + 1] += 1;
    }
    let largest = start.iter().copied().max().unwrap_or(0);
    for g in 0..SLOTS {
        start[g + 1] += start[g];
    }
    let mut next = start.clone();
    let mut tails = vec![0u16; TAILS];
    for tail in 0..=u16::MAX {
        let slot = &mut next[usize::from(bits[usize::from(tail)])];
        tails[*slot as usize] = tail;
        *slot += 1;
    }
    TailGroups {
        tails,
        start,
        largest,
    }
});

impl TailGroups {
    fn group(&self, bits: u16) -> &[u16] {
        let g = usize::from(bits);
        &self.tails[self.start[g] as usize..self.start[g + 1] as usize]
    }
}

/// A new id, of the form of [`id::generate`], whose session key `{prefix}{id}` is in `slot`.
///
/// Why it is as unguessable as an id can be in one slot: it is drawn uniformly at random
/// from every id of [`id::generate`]'s form whose key is in `slot` (about 2^256 / 2^14 =
/// 2^242 of them). Each attempt draws a number `pick` uniform below `largest` and 32 bytes
/// from the OS CSPRNG, the first 30 of which are the head; the tails that put the key in
/// `slot` after that head are one group of [`TailGroups`], and the attempt returns the head
/// with the group's `pick`-th tail if there is one, else starts over with fresh randomness. So every (head, matching tail) comes out of an
/// attempt with the same probability, 2^-240 / `largest`, whatever the size of its group:
/// exact rejection sampling, at an expected `largest / 4` attempts (about 2; each is two
/// reads of the CSPRNG and a CRC over the prefix and 40 characters). Someone who knows the
/// old id (the fixation a rotation defends against) learns the slot, 14 bits of the new
/// one; the other ~242 bits are as random as a fresh id's.
pub(crate) fn id_in_slot(prefix: &str, slot: u16) -> String {
    let prefix = prefix.as_bytes();
    if hash_tag(prefix).is_some() {
        // The key hashes its prefix's tag only: every id is in the prefix's one slot.
        return id::generate();
    }
    let groups = &*GROUPS;
    let after_prefix = crc16(0, prefix);
    // `pick` must be uniform below `largest`: draws at or above the last whole multiple of
    // `largest` are rejected with the rest of the attempt.
    let span = u64::from(u32::MAX) + 1;
    let cutoff = span - span % u64::from(groups.largest);
    let (mut bytes, mut draw) = ([0u8; ID_BYTES], [0u8; 4]);
    loop {
        id::fill_random(&mut draw);
        let pick = u64::from(u32::from_be_bytes(draw));
        if pick >= cutoff {
            continue;
        }
        id::fill_random(&mut bytes);
        let spelled = id::encode(&bytes);
        let head = crc16(after_prefix, &spelled.as_bytes()[..HEAD_CHARS]);
        let wanted = (crc16(head, &[0; TAIL_CHARS]) ^ slot) & SLOT_MASK;
        let pick = (pick % u64::from(groups.largest)) as usize;
        if let Some(tail) = groups.group(wanted).get(pick) {
            bytes[HEAD_BYTES..].copy_from_slice(&tail.to_be_bytes());
            return id::encode(&bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use redis::cluster_routing::Slot;
    use std::collections::HashSet;

    fn is_slot(key: &str, slot: u16) -> bool {
        Slot::new(slot) == Some(Slot::for_key(key))
    }

    #[test]
    fn slots_are_computed_as_redis_computes_them() {
        // The check value of CRC16-XMODEM, and the example of the Redis Cluster specification.
        assert_eq!(crc16(0, b"123456789"), 0x31C3);
        assert_eq!(of(b"123456789"), 0x31C3 & SLOT_MASK);
        let keys = [
            "session:abc",
            "{user1000}.following",
            "{user1000}.followers",
            "foo{}{bar}",
            "foo{{bar}}zap",
            "foo{bar}{zap}",
            "{}",
            "{",
            "}{a}",
            "a{b",
            "",
        ];
        for key in keys
            .into_iter()
            .map(str::to_owned)
            .chain((0..200).map(|i| format!("p{i}:{}", id::generate())))
        {
            assert!(is_slot(&key, of(key.as_bytes())), "{key}");
        }
        assert_eq!(of(b"{user1000}.following"), of(b"{user1000}.followers"));
        assert_eq!(of(b"foo{{bar}}zap"), of(b"{bar"));
        assert_eq!(of(b"foo{bar}{zap}"), of(b"bar"));
    }

    #[test]
    fn tail_groups_cover_every_tail_once() {
        let g = &*GROUPS;
        assert_eq!(g.start[SLOTS] as usize, TAILS);
        let all: HashSet<u16> = g.tails.iter().copied().collect();
        assert_eq!(all.len(), TAILS);
        // docs/redis.md gives these figures.
        assert_eq!(g.largest, 9);
        assert_eq!(
            (0..SLOTS).filter(|&b| g.group(b as u16).is_empty()).count(),
            2
        );
    }

    #[test]
    fn rotated_ids_are_valid_distinct_and_in_the_old_slot() {
        for prefix in ["session:", "app[1]*:", "a{b:", "{}x:", "{tenant}:", "s:{"] {
            let mut seen = HashSet::new();
            for _ in 0..300 {
                let old = id::generate();
                let slot = of(format!("{prefix}{old}").as_bytes());
                let new = id_in_slot(prefix, slot);
                assert_eq!(new.len(), 43);
                assert!(id::is_well_formed(&new));
                assert_eq!(URL_SAFE_NO_PAD.decode(&new).unwrap().len(), ID_BYTES);
                assert_ne!(new, old);
                assert_eq!(of(format!("{prefix}{new}").as_bytes()), slot, "{prefix}");
                assert!(is_slot(&format!("{prefix}{new}"), slot), "{prefix}");
                assert!(seen.insert(new), "{prefix}: an id repeated");
            }
        }
    }

    #[test]
    fn rotated_ids_vary_in_every_character() {
        // Many ids of one slot: no position of the id is stuck (the tail included).
        let slot = of(b"session:x");
        let ids: Vec<String> = (0..2000).map(|_| id_in_slot("session:", slot)).collect();
        for pos in 0..43 {
            let chars: HashSet<u8> = ids.iter().map(|i| i.as_bytes()[pos]).collect();
            let expected = if pos == 42 { 16 } else { 64 };
            assert_eq!(chars.len(), expected, "position {pos}");
        }
    }
}
