//! What JS keeps between results so that a result need not repeat it: data keys (each made
//! once, internalized) and object shapes (the key sequence of an object, which JS builds with
//! one object literal of its own, so that making the object is not a dictionary-like store
//! per key). Both are sent once per env, then named by their index. What a result introduced
//! is forgotten again if JS never decoded it, so the two sides never disagree.

use foldhash::fast::RandomState;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Keys interned per env, at most: data may carry keys nobody chose (ids used as keys).
const MAX_KEYS: usize = 4096;
/// Longest key interned, in bytes.
const MAX_KEY_LEN: usize = 64;
/// Shapes per env, at most: each is a small compiled function on the JS side.
const MAX_SHAPES: usize = 512;
/// Most keys of an object built from a shape; larger objects are built key by key.
const MAX_SHAPE_KEYS: usize = 32;

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

/// How an object is sent.
pub enum Shape {
    /// JS has a builder for its keys at this index: only the values follow.
    Known(u32),
    /// Made by this result at this index: its keys follow (as [`Key::Known`] or [`Key::New`],
    /// in [`Names::shape_keys`]), then the values.
    New(u32),
    /// Key by key.
    None,
}

#[derive(Default)]
pub struct Names {
    /// Interned keys and their index (0, 1, 2, … in the order they were sent).
    keys: HashMap<Box<str>, u32, RandomState>,
    /// Shapes by the indices of their keys, in order.
    shapes: HashMap<Box<[u32]>, u32, RandomState>,
    /// What the result being written introduced.
    fresh_keys: Vec<Box<str>>,
    fresh_shapes: Vec<Box<[u32]>>,
    /// The keys of the object being shaped.
    indices: Vec<u32>,
    /// For a new shape, the first key index it interned: keys from there on are new.
    first_new: u32,
}

impl Names {
    /// A new result is being written: what it introduces starts from here.
    pub fn begin(&mut self) {
        self.fresh_keys.clear();
        self.fresh_shapes.clear();
    }

    /// The last result was never decoded: what it introduced is not known to JS after all.
    /// Indices stay dense, as the forgotten ones were the last ones given.
    pub fn forget_fresh(&mut self) {
        for key in self.fresh_keys.drain(..) {
            self.keys.remove(&key);
        }
        for shape in self.fresh_shapes.drain(..) {
            self.shapes.remove(&shape);
        }
    }

    pub fn key(&mut self, key: &str) -> Key {
        if let Some(&i) = self.keys.get(key) {
            Key::Known(i)
        } else if key.len() <= MAX_KEY_LEN && self.keys.len() < MAX_KEYS {
            let i = self.keys.len() as u32;
            self.keys.insert(key.into(), i);
            self.fresh_keys.push(key.into());
            Key::New(i)
        } else {
            Key::Text
        }
    }

    /// The shape `map` is sent with; a new one interns every key it has.
    pub fn shape(&mut self, map: &Map<String, Value>) -> Shape {
        if map.is_empty() || map.len() > MAX_SHAPE_KEYS {
            return Shape::None;
        }
        self.indices.clear();
        let mut unknown = 0;
        for key in map.keys() {
            match self.keys.get(key.as_str()) {
                Some(&i) => self.indices.push(i),
                None if key.len() <= MAX_KEY_LEN => unknown += 1,
                None => return Shape::None,
            }
        }
        if unknown == 0
            && let Some(&i) = self.shapes.get(self.indices.as_slice())
        {
            return Shape::Known(i);
        }
        if self.shapes.len() >= MAX_SHAPES || self.keys.len() + unknown > MAX_KEYS {
            return Shape::None;
        }
        self.indices.clear();
        self.first_new = self.keys.len() as u32;
        for key in map.keys() {
            match self.key(key) {
                Key::Known(i) | Key::New(i) => self.indices.push(i),
                // Checked above: every key fits in the table.
                Key::Text => return Shape::None,
            }
        }
        let i = self.shapes.len() as u32;
        let shape: Box<[u32]> = self.indices.as_slice().into();
        self.shapes.insert(shape.clone(), i);
        self.fresh_shapes.push(shape);
        Shape::New(i)
    }

    /// The keys of the shape [`Names::shape`] just made, as they are to be sent.
    pub fn shape_keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.indices.iter().map(|&i| {
            if i >= self.first_new {
                Key::New(i)
            } else {
                Key::Known(i)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_shape_is_made_once_and_then_named() {
        let mut names = Names::default();
        let m = map(json!({"a": 1, "b": 2}));
        assert!(matches!(names.shape(&m), Shape::New(0)));
        assert!(names.shape_keys().all(|k| matches!(k, Key::New(_))));
        assert!(matches!(names.shape(&m), Shape::Known(0)));
        assert!(matches!(names.key("a"), Key::Known(0)));
    }

    #[test]
    fn what_an_undecoded_result_introduced_is_forgotten() {
        let mut names = Names::default();
        names.begin();
        assert!(matches!(names.shape(&map(json!({"a": 1}))), Shape::New(0)));
        names.begin();
        assert!(matches!(names.shape(&map(json!({"b": 1}))), Shape::New(1)));
        names.forget_fresh();
        assert!(matches!(names.key("b"), Key::New(1)));
        assert!(matches!(names.shape(&map(json!({"b": 1}))), Shape::New(1)));
        assert!(matches!(
            names.shape(&map(json!({"a": 1}))),
            Shape::Known(0)
        ));
    }

    #[test]
    fn objects_too_large_or_with_long_keys_go_key_by_key() {
        let mut names = Names::default();
        let long = "k".repeat(MAX_KEY_LEN + 1);
        assert!(matches!(names.shape(&map(json!({ long: 1 }))), Shape::None));
        let wide: Map<String, Value> = (0..=MAX_SHAPE_KEYS)
            .map(|i| (format!("k{i}"), json!(i)))
            .collect();
        assert!(matches!(names.shape(&wide), Shape::None));
        assert!(matches!(names.shape(&Map::new()), Shape::None));
    }
}
