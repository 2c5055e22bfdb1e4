//! What a category code looks like and the names of a category's deadline
//! columns: the little of the taxonomy that pack declarations check against,
//! kept apart so that packs need not depend on the taxonomy loader.

/// The column (and the pack deadlines' `category = "…"`) for the time allowed
/// to dispatch a case of the category.
pub const DISPATCH_TIME: &str = "dispatch_time";
/// The column for the time allowed to handle a case of the category.
pub const HANDLING_TIME: &str = "handling_time";

/// Longest category code accepted.
pub const MAX_CODE_LEN: usize = 32;
/// Deepest level accepted (the shipped taxonomies use 3).
pub const MAX_LEVEL: usize = 5;

/// Whether `code` is well formed: a first segment of an upper-case ASCII letter
/// and then letters or digits, then `.`-separated segments of ASCII letters or
/// digits, at most [`MAX_LEVEL`] segments and [`MAX_CODE_LEN`] bytes.
pub fn is_valid_code(code: &str) -> bool {
    let mut segments = code.split('.');
    let first_ok = segments.next().is_some_and(|s| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_uppercase())
            && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    });
    first_ok
        && segments.all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()))
        && code.split('.').count() <= MAX_LEVEL
        && code.len() <= MAX_CODE_LEN
}
