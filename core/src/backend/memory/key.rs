//! A record's key in its shard's map: the id itself, kept in the map's slot when it is short.
//!
//! A lookup compares the id it is given with the key in the slot it lands on. With the key
//! behind a pointer, that comparison read memory of its own: one more cache miss per get,
//! over a store larger than the cache. Generated ids are 43 bytes; an application's longer
//! ones stay on the heap. Keys are bytes (an id's UTF-8): the map is looked up by
//! `id.as_bytes()`.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// The longest id kept in the slot, in bytes.
const INLINE: usize = 46;

#[derive(Debug, Clone)]
pub enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Key {
    pub fn new(id: &str) -> Self {
        let id = id.as_bytes();
        match u8::try_from(id.len()) {
            Ok(len) if id.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..id.len()].copy_from_slice(id);
                Self::Inline { len, bytes }
            }
            _ => Self::Heap(id.into()),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Heap(bytes) => bytes,
        }
    }
}

// Hash and equality are the id's bytes', as `Borrow<[u8]>` requires.
impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Key {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn short_and_long_ids_are_found_by_their_bytes() {
        let generated = crate::id::generate();
        let long = "a".repeat(INLINE + 1);
        let edge = "b".repeat(INLINE);
        let mut map = HashMap::new();
        for id in [generated.as_str(), long.as_str(), edge.as_str(), "", "ü"] {
            map.insert(Key::new(id), id.to_owned());
        }
        assert!(matches!(Key::new(&generated), Key::Inline { len: 43, .. }));
        assert!(matches!(Key::new(&edge), Key::Inline { .. }));
        assert!(matches!(Key::new(&long), Key::Heap(_)));
        for id in [generated.as_str(), long.as_str(), edge.as_str(), "", "ü"] {
            assert_eq!(map.get(id.as_bytes()).map(String::as_str), Some(id));
        }
        assert_eq!(map.get(&b"b"[..]), None);
        assert_eq!(map.get(&generated.as_bytes()[..42]), None);
    }
}
