//! A caller-supplied id is the one piece of a backend key a client controls: whatever the
//! bytes, a well-formed id must stay inside its own key (no separator of the Redis index and
//! tombstone keys, of omnistorage's `user:` keys, of file paths or of Redis Cluster hash tags).
#![no_main]

use libfuzzer_sys::fuzz_target;
use omnisession::id::is_well_formed;

/// Characters that build other keys or paths out of an id, in some backend.
const SEPARATORS: &[char] = &[':', '~', '/', '\\', '.', '{', '}', '\0', ' ', '\n', '*', '?'];

fuzz_target!(|bytes: &[u8]| {
    // Ids arrive as strings from both hosts; lossy decoding also feeds U+FFFD to the check.
    let text = String::from_utf8_lossy(bytes);
    check(&text);
    // The same bytes with a generated-id-sized body, so the length window is reached often.
    if let Some(first) = text.chars().next() {
        check(&format!("{}{first}", "A".repeat(42)));
    }
});

fn check(id: &str) {
    let ok = is_well_formed(id);
    let expected = (22..=128).contains(&id.len())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    assert_eq!(ok, expected, "{id:?}");
    if ok {
        assert!(!id.contains(SEPARATORS), "{id:?}");
        assert!(id.is_ascii() && id.len() == id.chars().count(), "{id:?}");
    }
}
