//! Session data crosses every host and backend as JSON: whatever `check_data` accepts must be
//! written by the one writer and read back, by any reader, as exactly the same bytes, so a
//! session's size and content agree in Rust, Node, Python and Go.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omnisession::json::{check_data, relax_read, write_object};
use serde_json::{Map, Value};

fuzz_target!(|bytes: &[u8]| {
    let Ok(mut data) = serde_json::from_slice::<Map<String, Value>>(bytes) else {
        return;
    };
    if check_data(&mut data).is_err() {
        return;
    }
    let mut wire = String::new();
    write_object(&mut wire, &data);
    let mut reread: Map<String, Value> = serde_json::from_str(&wire)
        .unwrap_or_else(|e| panic!("accepted data was written as invalid JSON: {e}\n{wire}"));
    assert_eq!(reread, data, "accepted data changed on a round trip\n{wire}");
    // What the store reads back is still acceptable, unchanged, and written the same.
    check_data(&mut reread).unwrap_or_else(|e| panic!("accepted data read back rejected: {e:?}\n{wire}"));
    relax_read(&mut reread);
    assert_eq!(reread, data, "the reader changed accepted data\n{wire}");
    let mut again = String::new();
    write_object(&mut again, &reread);
    assert_eq!(again, wire);
});
