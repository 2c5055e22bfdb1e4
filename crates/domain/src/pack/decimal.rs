//! Exact decimal fields (money, quantities): a pack declares how many digits
//! follow the point and optional bounds; values are stored as canonical
//! strings with exactly that many digits, never as binary floating point.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use super::{Ctx, Raw, Table, entry_loc};

/// Most digits after the point a pack may ask for.
pub const MAX_SCALE: u32 = 8;
/// Digits after the point when a pack says nothing (money in yuan and fen).
pub const DEFAULT_SCALE: u32 = 2;

/// Reads a bound written as a string (`"0.01"`) or an integer (`0`).
fn bound(ctx: &mut Ctx, t: &Table, key: &str) -> Option<Decimal> {
    let (k, node) = t.get(key)?;
    let loc = entry_loc(k, node);
    let parsed = match &node.value {
        Raw::Str(s) => Decimal::from_str_exact(s.trim()).ok(),
        Raw::Int(n) => Some(Decimal::from(*n)),
        _ => None,
    };
    if parsed.is_none() {
        let msg = format!(
            "`{key}` in {} must be a decimal written as a string (\"0.01\") or an integer",
            t.what
        );
        ctx.err(&loc, msg);
    }
    parsed
}

/// Parses `scale`, `min` and `max` of a decimal field.
pub(super) fn parse_decimal(ctx: &mut Ctx, t: &Table) -> (u32, Option<String>, Option<String>) {
    let scale = match t.integer(ctx, "scale") {
        None => DEFAULT_SCALE,
        Some((n, _)) if (0..=i64::from(MAX_SCALE)).contains(&n) => n as u32,
        Some((_, loc)) => {
            ctx.err(&loc, format!("scale must be between 0 and {MAX_SCALE}"));
            DEFAULT_SCALE
        }
    };
    let min = bound(ctx, t, "min");
    let max = bound(ctx, t, "max");
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
        && let Some((k, node)) = t.get("max")
    {
        ctx.err(
            &entry_loc(k, node),
            format!("max ({hi}) is below min ({lo})"),
        );
    }
    (
        scale,
        min.map(|d| d.to_string()),
        max.map(|d| d.to_string()),
    )
}

/// Checks a value against a decimal field and returns its stored form: a
/// string with exactly `scale` digits after the point. Floating-point JSON
/// numbers are refused, since they may already have lost the exact value.
pub(super) fn validate_decimal(
    value: &Value,
    scale: u32,
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Value, String> {
    let example = if scale == 0 {
        "\"1234\"".to_string()
    } else {
        format!("\"1234.{}\"", "5".repeat(scale as usize))
    };
    let parsed = match value {
        Value::String(s) => Decimal::from_str_exact(s.trim()).ok(),
        Value::Number(n) if n.is_i64() || n.is_u64() => Decimal::from_str(&n.to_string()).ok(),
        _ => None,
    };
    let Some(d) = parsed else {
        return Err(format!(
            "must be an exact decimal written as a string, such as {example}"
        ));
    };
    let d = d.normalize();
    if d.scale() > scale {
        return Err(format!(
            "has more than {scale} digit(s) after the point; amounts are never rounded"
        ));
    }
    let bound = |b: Option<&str>| b.and_then(|s| Decimal::from_str_exact(s).ok());
    if let Some(lo) = bound(min)
        && d < lo
    {
        return Err(format!("must be at least {lo}"));
    }
    if let Some(hi) = bound(max)
        && d > hi
    {
        return Err(format!("must be at most {hi}"));
    }
    let mut stored = d;
    stored.rescale(scale);
    Ok(Value::String(stored.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn amounts_are_kept_exactly_with_their_scale() {
        let ok = |v: Value| validate_decimal(&v, 2, Some("0"), Some("1000000"));
        assert_eq!(ok(json!("1234.5")), Ok(json!("1234.50")));
        assert_eq!(ok(json!(" 0.10 ")), Ok(json!("0.10")));
        assert_eq!(ok(json!(12)), Ok(json!("12.00")));
        assert_eq!(ok(json!("1000000")), Ok(json!("1000000.00")));
        assert!(ok(json!("0.105")).unwrap_err().contains("never rounded"));
        assert!(ok(json!(0.1)).unwrap_err().contains("string"));
        assert!(ok(json!("1e3")).is_err());
        assert!(ok(json!("-1")).unwrap_err().contains("at least 0"));
        assert!(ok(json!("1000000.01")).unwrap_err().contains("at most"));
        assert!(ok(json!("abc")).is_err());
        assert!(ok(json!(true)).is_err());
        assert_eq!(validate_decimal(&json!("7"), 0, None, None), Ok(json!("7")));
    }

    proptest! {
        /// Whatever fen amount goes in comes back as the same amount, and the
        /// stored form validates to itself.
        #[test]
        fn stored_form_is_exact_and_stable(fen in -10_000_000_000i64..10_000_000_000i64) {
            let text = format!("{}.{:02}", fen / 100, (fen % 100).abs());
            let text = if fen < 0 && fen / 100 == 0 { format!("-{text}") } else { text };
            let stored = validate_decimal(&json!(text), 2, None, None).unwrap();
            let again = validate_decimal(&stored, 2, None, None).unwrap();
            prop_assert_eq!(&stored, &again);
            let back = Decimal::from_str_exact(stored.as_str().unwrap()).unwrap();
            prop_assert_eq!(back * Decimal::from(100), Decimal::from(fen));
        }
    }
}
