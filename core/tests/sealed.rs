//! Sealed cookie sessions: every vector of `tests/conformance/sealed/vectors.json` (sealed by
//! Go's crypto/aes, so the core's AES-GCM, associated data and encoding are checked against an
//! independent implementation), plus round trips, key rotation, the size limit boundary, the
//! configuration errors, and arbitrary input to `open`.

use omnisession::sealed::format::NONCE_BYTES;
use omnisession::{
    ErrorKind, FnSink, Opened, Reason, SealKey, SealedSession, Sealer, SeedsOpened, SeedsOpener,
    Timestamp, Violation,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};

fn vectors() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/sealed/vectors.json");
    let text = std::fs::read_to_string(&path).expect("sealed vectors exist");
    serde_json::from_str(&text).expect("sealed vectors are JSON")
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn ts(v: &Value) -> Timestamp {
    Timestamp::parse(v.as_str().expect("a timestamp string")).expect("RFC 3339")
}

fn session_of(v: &Value) -> SealedSession {
    SealedSession {
        user_id: v["user_id"].as_str().map(str::to_owned),
        data: v["data"].as_object().cloned().unwrap_or_default(),
        created_at: ts(&v["created_at"]),
        expires_at: (!v["expires_at"].is_null()).then(|| ts(&v["expires_at"])),
    }
}

fn reason_of(name: &str) -> Reason {
    match name {
        "malformed" => Reason::Malformed,
        "tampered" => Reason::Tampered,
        "expired" => Reason::Expired,
        "oversized" => Reason::Oversized,
        "duplicated" => Reason::Duplicated,
        other => panic!("unknown reason {other}"),
    }
}

fn ring(keys: &Value, ids: &[&str]) -> Vec<SealKey> {
    ids.iter()
        .map(|id| SealKey::new(*id, unhex(keys[*id].as_str().expect("hex key"))))
        .collect()
}

fn key(n: u8) -> Vec<u8> {
    vec![n; 32]
}

fn sealer(ids: &[(&str, u8)], max: usize) -> Sealer {
    let keys = ids
        .iter()
        .map(|(id, n)| SealKey::new(*id, key(*n)))
        .collect();
    Sealer::new(keys, "sid", max).expect("valid sealer")
}

fn now() -> Timestamp {
    Timestamp::from_unix_ms(1_714_557_600_000)
}

fn sample() -> SealedSession {
    let mut s = SealedSession::new(now());
    s.user_id = Some("user-1".into());
    s.data
        .insert("cart".into(), json!([1, 2.5, "<x>", {"deep": null}]));
    s.expires_at = Some(now().plus_ms(3_600_000));
    s
}

#[test]
fn v1_seal_vectors_give_the_exact_values() {
    let v = vectors();
    let v1 = &v["v1"];
    let cookie = v1["cookie_name"].as_str().unwrap();
    let cases = v1["seal"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let sealer = Sealer::new(
            ring(&v1["keys"], &[case["key"].as_str().unwrap()]),
            cookie,
            v1["max_cookie_bytes"].as_u64().unwrap() as usize,
        )
        .unwrap();
        let nonce: [u8; NONCE_BYTES] = unhex(case["nonce"].as_str().unwrap()).try_into().unwrap();
        let session = session_of(&case["session"]);
        let value = sealer.seal_with_nonce(&session, nonce).unwrap();
        assert_eq!(value, case["value"].as_str().unwrap(), "{name}");
    }
}

#[test]
fn v1_open_vectors_give_the_expected_session_or_reason() {
    let v = vectors();
    let v1 = &v["v1"];
    let cases = v1["open"].as_array().unwrap();
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let ids: Vec<&str> = case["ring"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let sealer = Sealer::new(
            ring(&v1["keys"], &ids),
            case["cookie_name"].as_str().unwrap(),
            case["max_cookie_bytes"].as_u64().unwrap() as usize,
        )
        .unwrap();
        let got = sealer.open(case["value"].as_str().unwrap(), ts(&case["now"]));
        let want = match case["expect"].get("session") {
            Some(s) => Opened::Session(session_of(s)),
            None => Opened::NoSession(reason_of(case["expect"]["reason"].as_str().unwrap())),
        };
        if got != want {
            failures.push(format!("{name}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seeds_vectors_open_as_the_seeds_sealed_them() {
    let v = vectors();
    let seeds = &v["seeds"];
    let cases = seeds["open"].as_array().unwrap();
    assert!(cases.len() >= 10);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let k = unhex(
            seeds["keys"][case["key"].as_str().unwrap()]
                .as_str()
                .unwrap(),
        );
        let got = SeedsOpener::new(&k)
            .unwrap()
            .open(case["value"].as_str().unwrap());
        let want = match case["expect"].get("json") {
            Some(j) => SeedsOpened::Json(j.clone()),
            None => SeedsOpened::NoSession(reason_of(case["expect"]["reason"].as_str().unwrap())),
        };
        if got != want {
            failures.push(format!("{name}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn round_trips_and_every_seal_differs() {
    let s = sealer(&[("a", 1)], 4096);
    for session in [SealedSession::new(now()), sample()] {
        let one = s.seal(&session).unwrap();
        let two = s.seal(&session).unwrap();
        assert_ne!(one, two, "a fresh nonce per seal");
        assert!(one.starts_with("v1.a."));
        assert!(
            one.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "URL- and cookie-safe: {one}"
        );
        assert_eq!(s.open(&one, now()), Opened::Session(session.clone()));
        assert_eq!(s.open(&two, now()), Opened::Session(session));
    }
}

#[test]
fn data_is_normalised_as_the_store_does() {
    let s = sealer(&[("a", 1)], 4096);
    let mut session = sample();
    session.data.insert("whole".into(), json!(2.0));
    let Opened::Session(back) = s.open(&s.seal(&session).unwrap(), now()) else {
        panic!("did not open");
    };
    assert_eq!(back.data["whole"], json!(2));
}

#[test]
fn seal_refuses_non_json_data_and_an_empty_user() {
    let s = sealer(&[("a", 1)], 4096);
    let mut session = sample();
    session
        .data
        .insert("big".into(), json!(9_007_199_254_740_993_u64));
    let e = s.seal(&session).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SessionNotSerializable);
    assert_eq!(e.details()["path"], "/big");

    let mut session = sample();
    session.user_id = Some(String::new());
    assert_eq!(
        s.seal(&session).unwrap_err().kind(),
        ErrorKind::SessionInvalid
    );
}

#[test]
fn rotation_new_key_in_front_still_opens_old_values() {
    let b_only = sealer(&[("b", 2)], 4096);
    let value = b_only.seal(&sample()).unwrap();

    let a_then_b = sealer(&[("a", 1), ("b", 2)], 4096);
    assert_eq!(a_then_b.open(&value, now()), Opened::Session(sample()));
    let resealed = a_then_b.seal(&sample()).unwrap();
    assert!(resealed.starts_with("v1.a."), "the first key seals");

    let a_only = sealer(&[("a", 1)], 4096);
    assert_eq!(a_only.open(&resealed, now()), Opened::Session(sample()));
    assert_eq!(
        a_only.open(&value, now()),
        Opened::NoSession(Reason::Tampered),
        "a removed key opens nothing"
    );
    // Same id, other bytes: the key was replaced, not rotated.
    let b_replaced = sealer(&[("b", 9)], 4096);
    assert_eq!(
        b_replaced.open(&value, now()),
        Opened::NoSession(Reason::Tampered)
    );
}

#[test]
fn instants_the_wire_form_cannot_write_are_refused() {
    let s = sealer(&[("a", 1)], 4096);
    let year_10000 = Timestamp::from_unix_ms(253_402_300_800_000);
    let year_minus_1 = Timestamp::from_unix_ms(-62_167_219_200_001);
    for (field, session) in [
        (
            "created_at",
            SealedSession {
                created_at: year_minus_1,
                ..sample()
            },
        ),
        (
            "expires_at",
            SealedSession {
                expires_at: Some(year_10000),
                ..sample()
            },
        ),
    ] {
        let e = s.seal(&session).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionInvalid);
        assert_eq!(e.details()["field"], field);
    }
    let last = Timestamp::from_unix_ms(253_402_300_799_999);
    assert!(
        s.seal(&SealedSession {
            expires_at: Some(last),
            ..sample()
        })
        .is_ok()
    );
}

#[test]
fn a_value_sealed_with_an_older_key_is_stale() {
    let old = sealer(&[("a", 1)], 4096);
    let rotated = sealer(&[("b", 2), ("a", 1)], 4096);
    let by_a = old.seal(&sample()).unwrap();
    let by_b = rotated.seal(&sample()).unwrap();
    assert!(matches!(rotated.open(&by_a, now()), Opened::Session(_)));
    assert!(rotated.is_stale(&by_a));
    assert!(!rotated.is_stale(&by_b));
    assert!(!old.is_stale(&by_a));
    assert!(!rotated.is_stale("not a value"));
}

#[test]
fn another_cookie_name_does_not_open() {
    let keys = || vec![SealKey::new("a", key(1))];
    let sid = Sealer::new(keys(), "sid", 4096).unwrap();
    let other = Sealer::new(keys(), "other", 4096).unwrap();
    let value = sid.seal(&sample()).unwrap();
    assert_eq!(
        other.open(&value, now()),
        Opened::NoSession(Reason::Tampered)
    );
}

#[test]
fn expiry_is_strictly_after_expires_at() {
    let s = sealer(&[("a", 1)], 4096);
    let session = sample();
    let exp = session.expires_at.unwrap();
    let value = s.seal(&session).unwrap();
    assert_eq!(s.open(&value, exp), Opened::Session(session.clone()));
    assert_eq!(
        s.open(&value, exp.plus_ms(1)),
        Opened::NoSession(Reason::Expired)
    );
    assert_eq!(
        s.open(&value, Timestamp::from_unix_nanos(exp.unix_nanos() + 1)),
        Opened::NoSession(Reason::Expired)
    );
}

#[test]
fn size_limit_boundary_counts_name_equals_value() {
    let probe = sealer(&[("a", 1)], 1 << 20);
    let nonce = [7u8; NONCE_BYTES];
    let value = probe.seal_with_nonce(&sample(), nonce).unwrap();
    let size = "sid=".len() + value.len();
    // A random nonce does not change the length.
    assert_eq!(probe.seal(&sample()).unwrap().len(), value.len());

    for (limit, fits) in [(size - 1, false), (size, true), (size + 1, true)] {
        let s = sealer(&[("a", 1)], limit);
        match s.seal_with_nonce(&sample(), nonce) {
            Ok(v) => {
                assert!(fits, "limit {limit}");
                assert_eq!(v, value);
                assert_eq!(s.open(&v, now()), Opened::Session(sample()));
            }
            Err(e) => {
                assert!(!fits, "limit {limit}: {e}");
                assert_eq!(e.kind(), ErrorKind::SessionSizeExceeded);
                assert_eq!(e.details()["size"], size);
                assert_eq!(e.details()["limit"], limit);
                assert_eq!(
                    s.open(&value, now()),
                    Opened::NoSession(Reason::Oversized),
                    "open refuses what seal would not write"
                );
            }
        }
    }
}

#[test]
fn default_limit_refuses_data_past_4096_bytes() {
    let s = sealer(&[("a", 1)], omnisession::sealed::DEFAULT_MAX_COOKIE_BYTES);
    let mut session = SealedSession::new(now());
    session.data.insert("blob".into(), json!("x".repeat(2900)));
    s.seal(&session).unwrap();
    session.data.insert("blob".into(), json!("x".repeat(3100)));
    let e = s.seal(&session).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SessionSizeExceeded);
    assert_eq!(e.details()["limit"], 4096);
}

#[test]
fn configuration_errors_name_the_option() {
    let cases: Vec<(Vec<SealKey>, &str, usize, &str)> = vec![
        (vec![], "sid", 4096, "keys"),
        (vec![SealKey::new("a", vec![0; 16])], "sid", 4096, "keys"),
        (vec![SealKey::new("a", vec![0; 33])], "sid", 4096, "keys"),
        (vec![SealKey::new("a", vec![0; 31])], "sid", 4096, "keys"),
        (
            vec![SealKey::new("a", key(1)), SealKey::new("a", key(2))],
            "sid",
            4096,
            "keys",
        ),
        (vec![SealKey::new("", key(1))], "sid", 4096, "keys"),
        (vec![SealKey::new("a.b", key(1))], "sid", 4096, "keys"),
        (
            vec![SealKey::new("x".repeat(17), key(1))],
            "sid",
            4096,
            "keys",
        ),
        (vec![SealKey::new("a", key(1))], "", 4096, "cookie_name"),
        (vec![SealKey::new("a", key(1))], "a b", 4096, "cookie_name"),
        (vec![SealKey::new("a", key(1))], "a=b", 4096, "cookie_name"),
        (
            vec![SealKey::new("a", key(1))],
            "sid",
            0,
            "max_cookie_bytes",
        ),
    ];
    for (keys, name, max, option) in cases {
        let e = Sealer::new(keys, name, max).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{option}: {e}");
        assert_eq!(e.details()["option"], option, "{e}");
    }
    for len in [0, 15, 17, 31, 33] {
        let e = SeedsOpener::new(&vec![0; len]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert_eq!(e.details()["option"], "key");
    }
}

#[test]
fn debug_never_shows_key_bytes() {
    let k = SealKey::new("a", vec![0xab; 32]);
    let shown = format!(
        "{k:?} {:?}",
        Sealer::new(vec![k.clone()], "sid", 4096).unwrap()
    );
    assert!(
        !shown.contains("171") && !shown.to_lowercase().contains("ab, "),
        "{shown}"
    );
    assert!(!format!("{:?}", SeedsOpener::new(&[0xab; 16]).unwrap()).contains("171"));
}

#[test]
fn every_value_that_does_not_open_is_a_violation_event() {
    let seen = Arc::new(Mutex::new(Vec::<Violation>::new()));
    let sink = Arc::clone(&seen);
    let s = sealer(&[("a", 1)], 300).with_violation_sink(Arc::new(FnSink(move |v: &Violation| {
        sink.lock().unwrap().push(v.clone());
    })));
    let good = s.seal(&sample()).unwrap();
    let mut tampered = good.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let later = now().plus_ms(3_600_001);
    let long = "x".repeat(300);
    assert!(matches!(s.open(&good, now()), Opened::Session(_)));
    assert_eq!(s.open_request(&[], now()), None);
    let cases = [
        (s.open("not-a-value", now()), "cookie_malformed"),
        (s.open(&tampered, now()), "cookie_tampered"),
        (s.open(&good, later), "cookie_expired"),
        (s.open(&long, now()), "cookie_oversized"),
        (
            s.open_request(&[&good, &good], now()).unwrap(),
            "cookie_duplicated",
        ),
    ];
    let events = seen.lock().unwrap().clone();
    assert_eq!(
        events.len(),
        cases.len(),
        "one event per refusal: {events:?}"
    );
    for ((opened, kind), event) in cases.iter().zip(&events) {
        let Opened::NoSession(reason) = opened else {
            panic!("{kind}: opened")
        };
        assert_eq!(reason.violation().as_str(), *kind);
        assert_eq!(event.kind.as_str(), *kind);
        assert!(event.message.contains("\"sid\""), "{}", event.message);
        assert!(
            !event.message.contains(&good[5..20]),
            "no cookie value in events"
        );
    }
    assert_eq!((events[3].size, events[3].limit), (304, 300));
}

proptest! {
    #[test]
    fn arbitrary_strings_never_open(input in any::<String>()) {
        let s = sealer(&[("a", 1)], 4096);
        prop_assert!(matches!(s.open(&input, now()), Opened::NoSession(_)));
        let seeds = SeedsOpener::new(&key(1)).unwrap();
        prop_assert!(matches!(seeds.open(&input), SeedsOpened::NoSession(_)));
    }

    #[test]
    fn well_shaped_forgeries_never_open(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        use base64::Engine as _;
        let s = sealer(&[("a", 1)], 4096);
        let forged = format!("v1.a.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&body));
        let want = if body.len() < 28 { Reason::Malformed } else { Reason::Tampered };
        prop_assert_eq!(s.open(&forged, now()), Opened::NoSession(want));
    }

    #[test]
    fn any_data_round_trips(pairs in proptest::collection::vec(("[a-z<>&é]{0,6}", "[ -~é漢🙂]{0,20}"), 0..8), user in proptest::option::of("[ -~]{1,12}")) {
        let s = sealer(&[("a", 1)], 4096);
        let mut session = SealedSession::new(now());
        session.user_id = user;
        session.data = pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect::<Map<_, _>>();
        let value = s.seal(&session).unwrap();
        prop_assert_eq!(s.open(&value, now()), Opened::Session(session));
    }
}
