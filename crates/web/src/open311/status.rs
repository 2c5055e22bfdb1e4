//! How a case reads in Open311: the standard `open` / `closed` and the
//! mySociety (FixMyStreet) extended statuses, which each pack assigns to its
//! states and outcome options (`public = "…"`, see `packs/README.md`). The
//! public labels are here; `docs/OPEN311.md` documents the mapping.

pub use gongzhi_domain::pack::PublicStatus as Extended;

/// A short public label, for `status_notes` and update descriptions.
/// Internal steps (returns between units, follow-up calls) never show.
pub trait Label {
    fn label(self, en: bool) -> &'static str;
}

impl Label for Extended {
    fn label(self, en: bool) -> &'static str {
        match (self, en) {
            (Extended::Open, false) => "已受理",
            (Extended::Open, true) => "Received",
            (Extended::Investigating, false) => "暂停办理，等待条件具备",
            (Extended::Investigating, true) => "On hold pending a precondition",
            (Extended::InProgress, false) => "办理中",
            (Extended::InProgress, true) => "In progress",
            (Extended::Fixed, false) => "已办结：已解决",
            (Extended::Fixed, true) => "Closed: resolved",
            (Extended::NotCouncilsResponsibility, false) => "已办结：非本单位职责",
            (Extended::NotCouncilsResponsibility, true) => "Closed: not our responsibility",
            (Extended::Duplicate, false) => "重复诉求，已并入原件",
            (Extended::Duplicate, true) => "Duplicate of an earlier request",
            (Extended::UnableToFix, false) => "已办结：无法办理",
            (Extended::UnableToFix, true) => "Closed: no action possible",
            (Extended::NoFurtherAction, false) => "已办结：已解释说明",
            (Extended::NoFurtherAction, true) => "Closed: explained",
            (Extended::Closed, false) => "已结案",
            (Extended::Closed, true) => "Closed",
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::*;
    use gongzhi_domain::pack::{CaseType, PackSet};

    fn request_type() -> CaseType {
        let source = include_str!("../../../../packs/requests/pack.toml");
        let set = PackSet::from_sources(&[("pack.toml".into(), source.into())])
            .unwrap_or_else(|e| panic!("{e}"));
        set.case_type("requests", "request")
            .cloned()
            .unwrap_or_else(|| panic!("request type"))
    }

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_requests_pack_maps_states_and_outcomes() {
        let t = request_type();
        let none = Map::new();
        assert_eq!(t.public_status("registered", &none).standard(), "open");
        assert_eq!(t.public_status("in_progress", &none), Extended::InProgress);
        assert_eq!(t.public_status("suspended", &none), Extended::Investigating);
        let resolved = fields(json!({"outcome": "resolved"}));
        assert_eq!(t.public_status("reported", &resolved), Extended::InProgress);
        assert_eq!(t.public_status("closed", &resolved), Extended::Fixed);
        assert_eq!(t.public_status("closed", &resolved).standard(), "closed");
        let not_ours = fields(json!({"outcome": "not_responsible"}));
        assert_eq!(
            t.public_status("closed", &not_ours),
            Extended::NotCouncilsResponsibility
        );
        assert_eq!(t.public_status("closed", &none), Extended::Closed);
        let duplicate = fields(json!({"duplicate_of": "K7M-4Q9X-2"}));
        assert_eq!(t.public_status("void", &duplicate), Extended::Duplicate);
        // A voided case never reads as fixed, whatever outcome it carries.
        assert_eq!(t.public_status("void", &resolved), Extended::Closed);
        assert_eq!(t.public_status("void", &none).standard(), "closed");
        assert_eq!(Extended::Fixed.label(true), "Closed: resolved");
    }
}
