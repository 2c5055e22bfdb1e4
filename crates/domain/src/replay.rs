//! Replaying a case from its log entries, to check that the case row (what
//! pages and the API read) is what the engine wrote. Each entry's changes
//! object is `{key: {before, after}}`; the engine's own keys (holder, area)
//! sit beside the case's fields, personal values appear as salted digests.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::log::personal_digest;

/// The change keys the engine writes for where a case is, not for its fields.
const HOLDER_KEY: &str = "holder_unit_id";
const AREA_KEY: &str = "area_unit_id";

/// One entry of a case, as replay needs it.
#[derive(Debug, Clone, Copy)]
pub struct ReplayEntry<'a> {
    pub from_state: Option<&'a str>,
    pub to_state: &'a str,
    /// The entry's changes object as stored (canonical JSON text).
    pub changes: &'a str,
}

/// A case as its log says it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replayed {
    pub created: bool,
    pub entries: u64,
    pub state: Option<String>,
    pub holder_unit_id: Option<String>,
    pub area_unit_id: Option<String>,
    /// The newest `after` of every key the entries changed (fields and the
    /// engine's other keys alike).
    pub values: BTreeMap<String, Value>,
}

/// A case row as the database holds it.
#[derive(Debug, Clone)]
pub struct CaseRow<'a> {
    pub state: &'a str,
    pub holder_unit_id: &'a str,
    pub area_unit_id: Option<&'a str>,
    pub fields: &'a Value,
    pub personal_salt: &'a str,
}

/// Where a case row departs from its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Departure {
    NoCreationEntry,
    State {
        row: String,
        log: String,
    },
    Holder {
        row: String,
        log: String,
    },
    Area {
        row: String,
        log: String,
    },
    /// A field's value is not what the log last set it to.
    Field {
        key: String,
    },
    /// An entry's changes could not be read.
    Unreadable,
}

impl Replayed {
    /// Applies the next entry, in log order.
    pub fn apply(&mut self, entry: ReplayEntry<'_>) -> Result<(), Departure> {
        self.entries += 1;
        if entry.from_state.is_none() {
            self.created = true;
        }
        self.state = Some(entry.to_state.to_string());
        let changes: Value =
            serde_json::from_str(entry.changes).map_err(|_| Departure::Unreadable)?;
        let Value::Object(changes) = changes else {
            return Err(Departure::Unreadable);
        };
        for (key, change) in changes {
            let after = change.get("after").cloned().unwrap_or(Value::Null);
            match key.as_str() {
                HOLDER_KEY => self.holder_unit_id = after.as_str().map(str::to_string),
                AREA_KEY => self.area_unit_id = after.as_str().map(str::to_string),
                _ => {
                    self.values.insert(key, after);
                }
            }
        }
        Ok(())
    }

    /// The first way the row departs from this replay, if any. A field of the
    /// row must equal the log's newest value of it (or, for a personal field,
    /// that value's salted digest); a field the log never set is a departure.
    pub fn compare(&self, row: &CaseRow<'_>) -> Option<Departure> {
        if !self.created {
            return Some(Departure::NoCreationEntry);
        }
        let log_state = self.state.clone().unwrap_or_default();
        if row.state != log_state {
            return Some(Departure::State {
                row: row.state.to_string(),
                log: log_state,
            });
        }
        if let Some(holder) = &self.holder_unit_id
            && row.holder_unit_id != holder
        {
            return Some(Departure::Holder {
                row: row.holder_unit_id.to_string(),
                log: holder.clone(),
            });
        }
        if row.area_unit_id != self.area_unit_id.as_deref() {
            return Some(Departure::Area {
                row: row.area_unit_id.unwrap_or_default().to_string(),
                log: self.area_unit_id.clone().unwrap_or_default(),
            });
        }
        let Value::Object(fields) = row.fields else {
            return Some(Departure::Field { key: String::new() });
        };
        for (key, value) in fields {
            let matches = self.values.get(key).is_some_and(|logged| {
                logged == value
                    || logged
                        .as_str()
                        .is_some_and(|d| d == personal_digest(row.personal_salt, value))
            });
            if !matches {
                return Some(Departure::Field { key: key.clone() });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry<'a>(from: Option<&'a str>, to: &'a str, changes: &'a str) -> ReplayEntry<'a> {
        ReplayEntry {
            from_state: from,
            to_state: to,
            changes,
        }
    }

    fn replay(entries: &[ReplayEntry<'_>]) -> Replayed {
        let mut r = Replayed::default();
        for e in entries {
            r.apply(*e).expect("readable");
        }
        r
    }

    #[test]
    fn a_row_written_by_the_engine_matches_its_replay() {
        let phone = json!("13812345678");
        let digest = personal_digest("salt", &phone);
        let created = format!(
            r#"{{"title":{{"before":null,"after":"路灯"}},"phone":{{"before":null,"after":"{digest}"}},"holder_unit_id":{{"before":null,"after":"u1"}},"area_unit_id":{{"before":null,"after":"g1"}}}}"#
        );
        let r = replay(&[
            entry(None, "open", &created),
            entry(
                Some("open"),
                "moved",
                r#"{"holder_unit_id":{"before":"u1","after":"u2"},"title":{"before":"路灯","after":"路灯不亮"}}"#,
            ),
            entry(
                Some("moved"),
                "moved",
                r#"{"deadline":{"before":null,"after":"d1"}}"#,
            ),
        ]);
        let fields = json!({"title": "路灯不亮", "phone": "13812345678"});
        let row = CaseRow {
            state: "moved",
            holder_unit_id: "u2",
            area_unit_id: Some("g1"),
            fields: &fields,
            personal_salt: "salt",
        };
        assert_eq!(r.compare(&row), None);
        assert_eq!(r.entries, 3);

        // Each kind of edit outside the engine is named.
        let edited = |state, holder, fields: &Value| {
            r.compare(&CaseRow {
                state,
                holder_unit_id: holder,
                area_unit_id: Some("g1"),
                fields,
                personal_salt: "salt",
            })
        };
        assert!(matches!(
            edited("closed", "u2", &fields),
            Some(Departure::State { .. })
        ));
        assert!(matches!(
            edited("moved", "u9", &fields),
            Some(Departure::Holder { .. })
        ));
        let phone_changed = json!({"title": "路灯不亮", "phone": "13900000000"});
        assert_eq!(
            edited("moved", "u2", &phone_changed),
            Some(Departure::Field {
                key: "phone".into()
            })
        );
        let added = json!({"title": "路灯不亮", "phone": "13812345678", "note": "x"});
        assert_eq!(
            edited("moved", "u2", &added),
            Some(Departure::Field { key: "note".into() })
        );
    }

    #[test]
    fn a_case_without_its_creation_entry_is_a_departure() {
        let r = replay(&[entry(Some("open"), "open", "{}")]);
        let fields = json!({});
        let row = CaseRow {
            state: "open",
            holder_unit_id: "u1",
            area_unit_id: None,
            fields: &fields,
            personal_salt: "s",
        };
        assert_eq!(r.compare(&row), Some(Departure::NoCreationEntry));
        let mut r = Replayed::default();
        assert_eq!(
            r.apply(entry(None, "open", "not json")),
            Err(Departure::Unreadable)
        );
    }
}
