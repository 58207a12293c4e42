//! The data keys JS keeps between results, so that a result need not repeat them: each is sent
//! once per env, made once and internalized on the JS side, then named by its index (over
//! 10 000 sessions of 1 KiB, a memory get 10-15 % faster than with every key sent as text).
//! What a result introduced is forgotten again if JS never decoded it, so the two sides never
//! disagree.

use foldhash::fast::RandomState;
use std::collections::HashMap;

/// Keys interned per env, at most: data may carry keys nobody chose (ids used as keys).
const MAX_KEYS: usize = 4096;
/// Longest key interned, in bytes.
const MAX_KEY_LEN: usize = 64;

/// How a key is sent.
#[derive(Clone, Copy)]
pub enum Key {
    /// JS has it at this index.
    Known(u32),
    /// Interned by this result at this index: JS is sent the text once.
    New(u32),
    /// Not interned (too long, or the table is full): sent as text.
    Text,
}

#[derive(Default)]
pub struct Names {
    /// Interned keys and their index (0, 1, 2, … in the order they were sent).
    keys: HashMap<Box<str>, u32, RandomState>,
    /// The keys the result being written interned.
    fresh: Vec<Box<str>>,
}

impl Names {
    /// A new result is being written: what it interns starts from here.
    pub fn begin(&mut self) {
        self.fresh.clear();
    }

    /// The last result was never decoded: the keys it interned are not known to JS after all.
    /// Indices stay dense, as the forgotten ones were the last ones given.
    pub fn forget_fresh(&mut self) {
        for key in self.fresh.drain(..) {
            self.keys.remove(&key);
        }
    }

    pub fn key(&mut self, key: &str) -> Key {
        if let Some(&i) = self.keys.get(key) {
            Key::Known(i)
        } else if key.len() <= MAX_KEY_LEN && self.keys.len() < MAX_KEYS {
            let i = self.keys.len() as u32;
            self.keys.insert(key.into(), i);
            self.fresh.push(key.into());
            Key::New(i)
        } else {
            Key::Text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_sent_once_and_then_named() {
        let mut names = Names::default();
        assert!(matches!(names.key("a"), Key::New(0)));
        assert!(matches!(names.key("b"), Key::New(1)));
        assert!(matches!(names.key("a"), Key::Known(0)));
    }

    #[test]
    fn what_an_undecoded_result_interned_is_forgotten() {
        let mut names = Names::default();
        names.begin();
        assert!(matches!(names.key("a"), Key::New(0)));
        names.begin();
        assert!(matches!(names.key("b"), Key::New(1)));
        assert!(matches!(names.key("a"), Key::Known(0)));
        names.forget_fresh();
        assert!(matches!(names.key("c"), Key::New(1)));
        assert!(matches!(names.key("a"), Key::Known(0)));
    }

    #[test]
    fn long_keys_and_keys_past_a_full_table_go_as_text() {
        let mut names = Names::default();
        assert!(matches!(names.key(&"k".repeat(MAX_KEY_LEN + 1)), Key::Text));
        assert!(matches!(names.key(&"k".repeat(MAX_KEY_LEN)), Key::New(0)));
        for i in 1..MAX_KEYS {
            assert!(matches!(names.key(&format!("k{i}")), Key::New(_)));
        }
        assert!(matches!(names.key("one too many"), Key::Text));
        assert!(matches!(names.key("k1"), Key::Known(_)));
    }
}
