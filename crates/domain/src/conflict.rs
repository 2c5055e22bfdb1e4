//! Conflicts of interest: a staff member named to work a case (a mediator)
//! must not be a party to it or declared related to a party, and is warned
//! off when they are a party in another open case with one of its parties.
//!
//! People are matched by the values a pack says identify a party across cases
//! (an ID number, a phone), never by name. Neither side keeps those values for
//! matching: staff declarations and party identifiers are both stored as
//! digests under one instance key, so the tables can be compared without
//! holding a list of people's numbers in clear.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// How a staff member stands to a party, as they declared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The staff member's own identifier.
    Own,
    /// A relative's or an associate's identifier.
    Related,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Own => "own",
            Relation::Related => "related",
        }
    }

    pub fn parse(text: &str) -> Option<Relation> {
        match text.trim() {
            "own" => Some(Relation::Own),
            "related" => Some(Relation::Related),
            _ => None,
        }
    }
}

/// What the check found about one staff member and one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    /// They are a party to the case: they cannot work it.
    Party,
    /// They declared a party related to them: they cannot work it.
    Related,
    /// They are a party in another open case with one of this case's
    /// parties: they may work it only with a reason, which is logged.
    PartyElsewhere,
}

impl Conflict {
    /// Whether the conflict bars the assignment outright.
    pub fn bars(self) -> bool {
        matches!(self, Conflict::Party | Conflict::Related)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Conflict::Party => "party",
            Conflict::Related => "related",
            Conflict::PartyElsewhere => "party_elsewhere",
        }
    }

    /// Why a person already named on the case may act on it no more, once a
    /// party added since bars them.
    pub fn step_aside_message(self) -> String {
        format!(
            "{}: the case must pass to another person before you act on it",
            self.message()
        )
    }

    /// The reason in words, naming no one.
    pub fn message(self) -> &'static str {
        match self {
            Conflict::Party => "this person is a party to the case and cannot work it",
            Conflict::Related => {
                "this person declared a party to the case as related to them and cannot work it"
            }
            Conflict::PartyElsewhere => {
                "this person is a party in another open case with one of this case's parties: \
                 give a reason to assign them all the same"
            }
        }
    }
}

/// The strongest conflict among those found: a bar before a warning.
pub fn strongest(found: impl IntoIterator<Item = Conflict>) -> Option<Conflict> {
    found.into_iter().min_by_key(|c| match c {
        Conflict::Party => 0,
        Conflict::Related => 1,
        Conflict::PartyElsewhere => 2,
    })
}

/// An identifier as compared: letters and digits only, upper case, and a
/// mainland mobile number without its +86.
pub fn normalize(value: &str) -> String {
    let kept: String = value
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    match kept.strip_prefix("86") {
        Some(rest) if rest.len() == 11 && rest.starts_with('1') && kept.len() == 13 => {
            rest.to_string()
        }
        _ => kept,
    }
}

/// The digest under which an identifier is stored and matched; `None` for a
/// value too short to identify anyone.
pub fn identity_digest(key: &str, value: &str) -> Option<String> {
    let normal = normalize(value);
    if normal.len() < 6 {
        return None;
    }
    let mut hasher = Sha256::new();
    hasher.update(key.as_bytes());
    hasher.update([0u8]);
    hasher.update(normal.as_bytes());
    Some(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// What a declaration shows of its value: the last four characters.
pub fn hint(value: &str) -> String {
    let normal = normalize(value);
    let tail: String = normal
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_same_number_written_differently_matches() {
        let a = identity_digest("k", "139-0731-0001");
        assert_eq!(a, identity_digest("k", "+86 139 0731 0001"));
        assert_eq!(a, identity_digest("k", "13907310001"));
        assert_ne!(a, identity_digest("k", "13907310002"));
        assert_ne!(a, identity_digest("other key", "13907310001"));
        assert_eq!(
            identity_digest("k", "43010219650512302x"),
            identity_digest("k", "43010219650512302X")
        );
        assert_eq!(identity_digest("k", "12-3"), None);
        assert_eq!(hint("430102196505123021"), "…3021");
    }

    #[test]
    fn a_bar_outranks_a_warning() {
        assert_eq!(
            strongest([Conflict::PartyElsewhere, Conflict::Related]),
            Some(Conflict::Related)
        );
        assert_eq!(strongest([]), None);
        assert!(Conflict::Party.bars() && !Conflict::PartyElsewhere.bars());
        assert_eq!(Relation::parse("related"), Some(Relation::Related));
        assert_eq!(Relation::parse("friend"), None);
    }

    proptest! {
        #[test]
        fn normalizing_is_idempotent_and_never_panics(s in "\\PC{0,40}") {
            let once = normalize(&s);
            prop_assert_eq!(normalize(&once), once.clone());
            let _ = identity_digest("k", &s);
            let _ = hint(&s);
        }
    }
}
