//! Times are UTC epoch microseconds (`i64`) everywhere below the HTTP edge.

/// UTC epoch microseconds.
pub type Micros = i64;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;
pub const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// Now, as UTC epoch microseconds.
pub fn now_micros() -> Micros {
    chrono::Utc::now().timestamp_micros()
}

/// RFC 3339 text for an epoch-microsecond time (UTC), for APIs and logs.
pub fn to_rfc3339(us: Micros) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Parses RFC 3339 text into epoch microseconds.
pub fn parse_rfc3339(text: &str) -> Option<Micros> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}
