//! A million generated ids: all distinct, all well formed, and their bytes look uniform (a
//! monobit count and a chi-square over byte values, with bounds at about six standard
//! deviations so that a sound generator fails them about never).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use omnisession::id;
use std::collections::HashSet;

const N: usize = 1_000_000;

#[test]
fn a_million_ids_are_distinct_and_uniform() {
    let mut seen = HashSet::with_capacity(N);
    let mut ones: u64 = 0;
    let mut counts = [0u64; 256];
    for _ in 0..N {
        let id = id::generate();
        assert!(id::is_well_formed(&id) && id.len() == 43, "{id}");
        let bytes = URL_SAFE_NO_PAD.decode(&id).expect("base64url");
        assert_eq!(bytes.len(), id::ID_BYTES);
        for b in &bytes {
            ones += u64::from(b.count_ones());
            counts[usize::from(*b)] += 1;
        }
        assert!(seen.insert(id), "a repeated id after {} ids", seen.len());
    }

    let bits = (N * id::ID_BYTES * 8) as f64;
    let sigma = (bits * 0.25).sqrt();
    let deviation = (ones as f64 - bits / 2.0).abs() / sigma;
    assert!(
        deviation < 6.0,
        "monobit: {deviation:.1} standard deviations off"
    );

    let expected = (N * id::ID_BYTES) as f64 / 256.0;
    let chi2: f64 = counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    // 255 degrees of freedom: mean 255, standard deviation about 22.6.
    assert!(
        chi2 < 255.0 + 6.0 * 22.6,
        "byte values: chi-square {chi2:.0}"
    );
    assert!(
        chi2 > 255.0 - 6.0 * 22.6,
        "byte values too even: chi-square {chi2:.0}"
    );
}
