//! Instants as the wire format writes them: RFC 3339, UTC, `Z`, the fraction trimmed.

use std::fmt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const NANOS_PER_MILLI: i128 = 1_000_000;

/// An instant with nanosecond precision (records written by other services keep theirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i128);

impl Timestamp {
    /// From Unix milliseconds.
    pub const fn from_unix_ms(ms: i64) -> Self {
        Self(ms as i128 * NANOS_PER_MILLI)
    }

    /// From Unix nanoseconds.
    pub const fn from_unix_nanos(nanos: i128) -> Self {
        Self(nanos)
    }

    /// Unix milliseconds, rounded down (the unit every backend compares expiry in).
    pub fn unix_ms(self) -> i64 {
        // Every instant from 1678 to 2262 fits an i64 of nanoseconds, whose division costs a
        // fraction of an i128's (a get reads several timestamps).
        match i64::try_from(self.0) {
            Ok(nanos) => nanos.div_euclid(NANOS_PER_MILLI as i64),
            Err(_) => self.0.div_euclid(NANOS_PER_MILLI) as i64,
        }
    }

    /// Unix nanoseconds.
    pub const fn unix_nanos(self) -> i128 {
        self.0
    }

    /// This instant plus `ms` milliseconds.
    #[must_use]
    pub const fn plus_ms(self, ms: i64) -> Self {
        Self(self.0 + ms as i128 * NANOS_PER_MILLI)
    }

    /// Parses any RFC 3339 timestamp (any offset, any fraction) whose instant has a UTC year
    /// of 0000 to 9999: an offset can move one outside (`0000-01-01T00:00:00+01:00`), where
    /// the wire form cannot write it, so a record holding it would not read back.
    pub fn parse(text: &str) -> Option<Self> {
        let nanos = OffsetDateTime::parse(text, &Rfc3339)
            .ok()?
            .unix_timestamp_nanos();
        let utc = OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
        (0..=9999).contains(&utc.year()).then_some(Self(nanos))
    }

    /// Whether the wire form can write this instant: a UTC year of 0000 to 9999 (what
    /// [`Timestamp::parse`] reads back).
    pub fn is_writable(self) -> bool {
        OffsetDateTime::from_unix_timestamp_nanos(self.0)
            .is_ok_and(|t| (0..=9999).contains(&t.year()))
    }

    /// Writes the wire form: `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, trailing zeros trimmed.
    pub fn write_to(self, out: &mut String) {
        use fmt::Write as _;
        let t =
            OffsetDateTime::from_unix_timestamp_nanos(self.0).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        let nanos = t.nanosecond();
        if nanos != 0 {
            let digits = format!("{nanos:09}");
            out.push('.');
            out.push_str(digits.trim_end_matches('0'));
        }
        out.push('Z');
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(30);
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

/// The wire's "no absolute expiry": Go's zero `time.Time`.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// [`ZERO_TIME`] as an instant; anything at or before it reads as "no absolute expiry".
pub const ZERO_INSTANT: Timestamp = Timestamp::from_unix_nanos(-62_135_596_800 * 1_000_000_000);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_rfc3339nano() {
        assert_eq!(
            Timestamp::from_unix_ms(0).to_string(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix_ms(1_500).to_string(),
            "1970-01-01T00:00:01.5Z"
        );
        assert_eq!(
            Timestamp::from_unix_nanos(1_700_000_000_123_456_789).to_string(),
            "2023-11-14T22:13:20.123456789Z"
        );
    }

    #[test]
    fn parses_offsets_and_go_zero_time() {
        let a = Timestamp::parse("2024-01-01T01:00:00+01:00").unwrap();
        let b = Timestamp::parse("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(a, b);
        let zero = Timestamp::parse(ZERO_TIME).unwrap();
        assert_eq!(zero, ZERO_INSTANT);
        assert_eq!(zero.to_string(), ZERO_TIME);
        assert!(Timestamp::parse("yesterday").is_none());
    }

    #[test]
    fn offsets_that_leave_the_writable_years_are_not_timestamps() {
        // Written as `-001-12-31T23:00:00Z` / `10000-01-01T…Z`, neither of which parses back.
        assert!(Timestamp::parse("0000-01-01T00:00:00+01:00").is_none());
        assert!(Timestamp::parse("9999-12-31T23:59:59-01:00").is_none());
        for edge in [
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "0000-01-01T00:00:00-01:00",
        ] {
            let t = Timestamp::parse(edge).unwrap();
            assert_eq!(Timestamp::parse(&t.to_string()), Some(t), "{edge}");
        }
    }

    #[test]
    fn unix_ms_rounds_down_before_the_epoch() {
        assert_eq!(Timestamp::from_unix_nanos(-1).unix_ms(), -1);
        assert_eq!(Timestamp::from_unix_nanos(1_999_999).unix_ms(), 1);
    }

    #[test]
    fn unix_ms_is_exact_beyond_what_i64_nanoseconds_hold() {
        for text in [
            "0000-01-01T00:00:00.999999999Z",
            "9999-12-31T23:59:59.999999999Z",
            "1677-09-21T00:12:43.145224191Z",
            "2262-04-11T23:47:16.854775808Z",
        ] {
            let t = Timestamp::parse(text).unwrap();
            assert_eq!(
                i128::from(t.unix_ms()),
                t.unix_nanos().div_euclid(1_000_000),
                "{text}"
            );
        }
    }
}
