//! A sealed cookie value comes straight from the client: whatever bytes it holds, `open`
//! (and the seeds' opener) must answer with a reason, never panic, and never hand back a
//! session, since nothing here was sealed with the fixed key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omnisession::{Opened, SealKey, Sealer, SeedsOpened, SeedsOpener, Timestamp};
use std::sync::LazyLock;

static SEALER: LazyLock<Sealer> = LazyLock::new(|| {
    Sealer::new(vec![SealKey::new("k1", [7u8; 32])], "sid", 4096).expect("valid sealer")
});
static SEEDS: LazyLock<SeedsOpener> =
    LazyLock::new(|| SeedsOpener::new(&[7u8; 32]).expect("valid key"));

fuzz_target!(|bytes: &[u8]| {
    let value = String::from_utf8_lossy(bytes);
    let now = Timestamp::from_unix_ms(1_714_557_600_000);
    if let Opened::Session(s) = SEALER.open(&value, now) {
        panic!("an unsealed input opened: {s:?}");
    }
    if let SeedsOpened::Json(j) = SEEDS.open(&value) {
        panic!("an unsealed input opened as a seeds value: {j}");
    }
});
