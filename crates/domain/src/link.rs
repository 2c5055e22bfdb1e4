//! Links between cases: typed, directed, read from both ends. A request that
//! turns out to be a dispute is *converted* into a mediation case; a court
//! *refers* a dispute to a committee; a report is a *duplicate* of an earlier
//! one; two cases about one matter are *related*. The engine keeps the link
//! and writes it into both cases' logs; packs and pages read it by kind.

use serde::Serialize;

/// Longest note kept with a link.
pub const MAX_NOTE_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// The source case was referred to (handed over as) the target.
    Referral,
    /// The source case reports the same matter as the earlier target.
    Duplicate,
    /// The source case was converted into the target (e.g. a request into a dispute).
    Conversion,
    /// The two cases concern one matter; no direction is implied.
    Related,
}

/// Which end of a link a case is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    Source,
    Target,
}

impl LinkKind {
    pub const ALL: [LinkKind; 4] = [
        LinkKind::Referral,
        LinkKind::Duplicate,
        LinkKind::Conversion,
        LinkKind::Related,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Referral => "referral",
            LinkKind::Duplicate => "duplicate",
            LinkKind::Conversion => "conversion",
            LinkKind::Related => "related",
        }
    }

    pub fn parse(text: &str) -> Option<LinkKind> {
        LinkKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether the link reads the same from both ends.
    pub fn is_symmetric(self) -> bool {
        self == LinkKind::Related
    }

    /// The i18n key of how the link reads from `end` ("referred to …",
    /// "referred from …").
    pub fn label_key(self, end: End) -> &'static str {
        match (self, end) {
            (LinkKind::Referral, End::Source) => "link.referred_to",
            (LinkKind::Referral, End::Target) => "link.referred_from",
            (LinkKind::Duplicate, End::Source) => "link.duplicate_of",
            (LinkKind::Duplicate, End::Target) => "link.duplicated_by",
            (LinkKind::Conversion, End::Source) => "link.converted_to",
            (LinkKind::Conversion, End::Target) => "link.converted_from",
            (LinkKind::Related, _) => "link.related",
        }
    }
}

/// Why a link cannot be made, before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("kind: expected one of referral, duplicate, conversion, related")]
    UnknownKind,
    #[error("case: a case cannot be linked to itself")]
    SelfLink,
    #[error("note: at most {MAX_NOTE_CHARS} characters")]
    NoteTooLong,
}

impl LinkError {
    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            LinkError::UnknownKind => "kind",
            LinkError::SelfLink => "case",
            LinkError::NoteTooLong => "note",
        }
    }
}

/// A checked request to link `source` to `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink {
    pub kind: LinkKind,
    pub source_case_id: String,
    pub target_case_id: String,
    pub note: Option<String>,
}

impl NewLink {
    /// Checks a link request. A symmetric link is stored with its ends in id
    /// order, so that one pair has one `related` link whichever end asks.
    pub fn new(
        kind: &str,
        source_case_id: &str,
        target_case_id: &str,
        note: Option<&str>,
    ) -> Result<NewLink, LinkError> {
        let kind = LinkKind::parse(kind.trim()).ok_or(LinkError::UnknownKind)?;
        if source_case_id == target_case_id {
            return Err(LinkError::SelfLink);
        }
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
            return Err(LinkError::NoteTooLong);
        }
        let (source, target) = if kind.is_symmetric() && target_case_id < source_case_id {
            (target_case_id, source_case_id)
        } else {
            (source_case_id, target_case_id)
        };
        Ok(NewLink {
            kind,
            source_case_id: source.to_string(),
            target_case_id: target.to_string(),
            note: note.map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_read_from_both_ends() {
        for kind in LinkKind::ALL {
            assert_eq!(LinkKind::parse(kind.as_str()), Some(kind));
            let (out, back) = (kind.label_key(End::Source), kind.label_key(End::Target));
            assert_eq!(out == back, kind.is_symmetric(), "{kind:?}");
        }
        assert_eq!(LinkKind::parse("sibling"), None);
    }

    #[test]
    fn a_link_request_is_checked_before_it_is_stored() {
        assert_eq!(
            NewLink::new("sibling", "a", "b", None),
            Err(LinkError::UnknownKind)
        );
        assert_eq!(
            NewLink::new("related", "a", "a", None),
            Err(LinkError::SelfLink)
        );
        let long = "长".repeat(MAX_NOTE_CHARS + 1);
        let err = NewLink::new("related", "a", "b", Some(&long));
        assert_eq!(err.as_ref().map_err(LinkError::field), Err("note"));
        let ok = NewLink::new(" conversion ", "a", "b", Some("  ")).expect("valid");
        assert_eq!((ok.kind, ok.note), (LinkKind::Conversion, None));
    }

    #[test]
    fn a_related_link_is_one_link_whichever_end_asks() {
        let one = NewLink::new("related", "b", "a", None).expect("valid");
        let other = NewLink::new("related", "a", "b", None).expect("valid");
        assert_eq!(one, other);
        // A directed link keeps its direction.
        let referral = NewLink::new("referral", "b", "a", None).expect("valid");
        assert_eq!(referral.source_case_id, "b");
    }
}
