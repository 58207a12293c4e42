//! Records come from backends that other services (a Go service using omnistorage-core, an
//! older omnisession, a hand edit) may have written: reading one must never panic, and a
//! record we read and write back must read back the same, or a plain `touch` would alter it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omnisession::Session;

fuzz_target!(|bytes: &[u8]| {
    let Ok(first) = Session::from_wire(bytes) else {
        return;
    };
    let wire = first.to_wire();
    let second = Session::from_wire(wire.as_bytes())
        .unwrap_or_else(|e| panic!("a record we wrote does not read back: {e}\n{wire}"));
    assert_eq!(first, second, "the record changed on a round trip\n{wire}");
    // Writing is a function of the session: the bytes (and so the size limit) are stable.
    assert_eq!(second.to_wire(), wire);
    assert_eq!(first.size(), wire.len());
});
