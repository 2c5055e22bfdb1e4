//! How a request's state and outcome read in Open311: the standard `open` /
//! `closed`, and the mySociety (FixMyStreet) extended statuses. The mapping is
//! documented in `docs/OPEN311.md`; change both together.

use serde_json::{Map, Value};

/// A mySociety extended status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extended {
    Open,
    Investigating,
    InProgress,
    Fixed,
    NotCouncilsResponsibility,
    Duplicate,
    UnableToFix,
    NoFurtherAction,
    Closed,
}

impl Extended {
    pub fn as_str(self) -> &'static str {
        match self {
            Extended::Open => "open",
            Extended::Investigating => "investigating",
            Extended::InProgress => "in_progress",
            Extended::Fixed => "fixed",
            Extended::NotCouncilsResponsibility => "not_councils_responsibility",
            Extended::Duplicate => "duplicate",
            Extended::UnableToFix => "unable_to_fix",
            Extended::NoFurtherAction => "no_further_action",
            Extended::Closed => "closed",
        }
    }

    /// The GeoReport v2 status: `open` or `closed`.
    pub fn standard(self) -> &'static str {
        match self {
            Extended::Open | Extended::Investigating | Extended::InProgress => "open",
            _ => "closed",
        }
    }

    /// A short public label, for `status_notes` and update descriptions.
    /// Internal steps (returns between units, follow-up calls) never show.
    pub fn label(self, en: bool) -> &'static str {
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

/// The extended status of a request in `state` (terminal or not) with these
/// fields. Open states say how far handling has got; "closed" never claims
/// "fixed" unless the recorded outcome says so.
pub fn extended(state: &str, terminal: bool, fields: &Map<String, Value>) -> Extended {
    let outcome = fields.get("outcome").and_then(Value::as_str);
    match state {
        "registered" | "dispatched" | "returned" => Extended::Open,
        "suspended" => Extended::Investigating,
        // Reported, followed up, verified: a result exists but may still be
        // sent back for re-handling, so the request stays in progress.
        "in_progress" | "reported" | "rated" | "verified" => Extended::InProgress,
        "void" => {
            if fields.get("duplicate_of").is_some_and(|v| !v.is_null()) {
                Extended::Duplicate
            } else {
                Extended::Closed
            }
        }
        _ if terminal => match outcome {
            Some("resolved") => Extended::Fixed,
            Some("explained") => Extended::NoFurtherAction,
            Some("not_responsible") => Extended::NotCouncilsResponsibility,
            Some("no_action") => Extended::UnableToFix,
            _ => Extended::Closed,
        },
        _ => Extended::Open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn states_and_outcomes_map() {
        let none = Map::new();
        assert_eq!(extended("registered", false, &none).standard(), "open");
        assert_eq!(extended("in_progress", false, &none), Extended::InProgress);
        let resolved = fields(json!({"outcome": "resolved"}));
        assert_eq!(extended("reported", false, &resolved), Extended::InProgress);
        assert_eq!(extended("closed", true, &resolved), Extended::Fixed);
        assert_eq!(extended("closed", true, &resolved).standard(), "closed");
        assert_eq!(
            extended(
                "closed",
                true,
                &fields(json!({"outcome": "not_responsible"}))
            ),
            Extended::NotCouncilsResponsibility
        );
        assert_eq!(extended("closed", true, &none), Extended::Closed);
        assert_eq!(
            extended("void", true, &fields(json!({"duplicate_of": "K7M-4Q9X-2"}))),
            Extended::Duplicate
        );
        assert_eq!(extended("void", true, &none).standard(), "closed");
    }
}
