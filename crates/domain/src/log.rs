//! The append-only case log: one entry per change, hashed as an RFC 6962 leaf.
//!
//! # Canonical entry encoding (`gongzhi-log-v1`)
//!
//! The bytes hashed for an entry are, in this order:
//!
//! 1. the ASCII magic `gongzhi-log-v1` followed by one `0x0A` byte;
//! 2. `seq` as an unsigned 64-bit big-endian integer (the entry's index in the log);
//! 3. `at` (UTC epoch microseconds) as a signed 64-bit big-endian integer;
//! 4. the text fields `id`, `case_id`, `actor_id`, `actor_unit_id`, `action`,
//!    `from_state`, `to_state`, `changes`, `reason`, each as a 32-bit big-endian
//!    byte length followed by its UTF-8 bytes; an absent optional field is the
//!    length `0xFFFFFFFF` with no bytes, so that "absent" and "empty" differ.
//!
//! `changes` is canonical JSON: object keys sorted by their UTF-8 bytes, no
//! insignificant whitespace, strings escaped as `serde_json` escapes them,
//! numbers as `serde_json` prints them.
//!
//! The leaf hash is `SHA-256(0x00 ‖ canonical bytes)` (RFC 6962 §2.1).
//!
//! Personal data never enters an entry in clear: a personal field's value is
//! replaced by [`personal_digest`], a salted SHA-256, so erasing the person later
//! (dropping the salt and the value) never breaks the tree.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::time::Micros;

const MAGIC: &[u8] = b"gongzhi-log-v1\n";
const ABSENT: u32 = u32::MAX;

/// One log entry, as stored and as hashed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: u64,
    pub id: String,
    pub case_id: String,
    pub at: Micros,
    /// `None` for the system (the deadline worker, an import).
    pub actor_id: Option<String>,
    pub actor_unit_id: Option<String>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    /// Canonical JSON of the field changes: `{"key": {"before": .., "after": ..}}`.
    pub changes: String,
    pub reason: Option<String>,
}

impl LogEntry {
    /// The canonical bytes of this entry (see the module documentation).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.changes.len());
        self.fields().write_canonical(&mut out);
        out
    }

    /// This entry's fields, borrowed, in canonical order.
    pub fn fields(&self) -> EntryFields<'_> {
        EntryFields {
            seq: self.seq,
            at: self.at,
            texts: [
                Some(self.id.as_bytes()),
                Some(self.case_id.as_bytes()),
                self.actor_id.as_deref().map(str::as_bytes),
                self.actor_unit_id.as_deref().map(str::as_bytes),
                Some(self.action.as_bytes()),
                self.from_state.as_deref().map(str::as_bytes),
                Some(self.to_state.as_bytes()),
                Some(self.changes.as_bytes()),
                self.reason.as_deref().map(str::as_bytes),
            ],
        }
    }

    /// RFC 6962 leaf hash: SHA-256(0x00 ‖ canonical bytes).
    pub fn leaf_hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update([0u8]);
        hasher.update(self.canonical_bytes());
        hasher.finalize().into()
    }

    pub fn leaf_hash_hex(&self) -> String {
        hex::encode(self.leaf_hash())
    }
}

/// The text fields of an entry in canonical order (see the module documentation).
pub const TEXT_FIELDS: [&str; 9] = [
    "id",
    "case_id",
    "actor_id",
    "actor_unit_id",
    "action",
    "from_state",
    "to_state",
    "changes",
    "reason",
];

/// An entry's fields as borrowed bytes, so that a bulk reader (`verify`) can
/// encode rows straight from the database's buffers without building a
/// [`LogEntry`]. [`LogEntry::canonical_bytes`] goes through the same encoder,
/// so the two can never disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryFields<'a> {
    pub seq: u64,
    pub at: Micros,
    /// In the order of [`TEXT_FIELDS`]; `None` is an absent optional field.
    pub texts: [Option<&'a [u8]>; 9],
}

impl EntryFields<'_> {
    /// Appends the canonical bytes of these fields to `out`.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.at.to_be_bytes());
        for field in self.texts {
            push_text(out, field);
        }
    }
}

fn push_text(out: &mut Vec<u8>, text: Option<&[u8]>) {
    match text {
        None => out.extend_from_slice(&ABSENT.to_be_bytes()),
        Some(t) => {
            // Texts are bounded far below 4 GiB by the request size limits; saturate
            // rather than wrap so an impossible length can never alias another.
            let len = u32::try_from(t.len()).unwrap_or(ABSENT - 1);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(t);
        }
    }
}

/// Canonical JSON text: keys sorted, no whitespace. Independent of whether
/// `serde_json` was built with `preserve_order`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(*key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The salted digest that stands for a personal value in the log:
/// `sha256:` + hex(SHA-256(salt ‖ 0x00 ‖ canonical JSON of the value)).
pub fn personal_digest(salt: &str, value: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update([0u8]);
    hasher.update(canonical_json(value).as_bytes());
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn sample() -> LogEntry {
        LogEntry {
            seq: 7,
            id: "0190a1b2-0000-7000-8000-000000000001".into(),
            case_id: "case-1".into(),
            at: 1_767_225_600_000_000,
            actor_id: Some("user-1".into()),
            actor_unit_id: None,
            action: "create".into(),
            from_state: None,
            to_state: "registered".into(),
            changes: canonical_json(&json!({"title": {"before": null, "after": "路灯不亮"}})),
            reason: Some(String::new()),
        }
    }

    #[test]
    fn canonical_bytes_layout_is_pinned() {
        let bytes = sample().canonical_bytes();
        assert!(bytes.starts_with(b"gongzhi-log-v1\n"));
        assert_eq!(&bytes[15..23], &7u64.to_be_bytes());
        assert_eq!(&bytes[23..31], &1_767_225_600_000_000i64.to_be_bytes());
        // id: length 36 then the text.
        assert_eq!(&bytes[31..35], &36u32.to_be_bytes());
        // The empty reason (last field) is length 0, distinct from absent.
        assert_eq!(&bytes[bytes.len() - 4..], &0u32.to_be_bytes());
        // Pinned leaf hash, cross-checked with an independent Python encoder: changing
        // the encoding must be a deliberate, versioned act.
        assert_eq!(
            sample().leaf_hash_hex(),
            "a0d996070c464b8b82787809186e8708b02b7cabe2c7929bffe59e9c669f115e"
        );
    }

    #[test]
    fn leaf_hash_is_rfc6962_leaf() {
        let entry = sample();
        let mut prefixed = vec![0u8];
        prefixed.extend(entry.canonical_bytes());
        let expected: [u8; 32] = Sha256::digest(&prefixed).into();
        assert_eq!(entry.leaf_hash(), expected);
    }

    #[test]
    fn absent_and_empty_differ() {
        let mut a = sample();
        a.reason = None;
        assert_ne!(a.leaf_hash(), sample().leaf_hash());
    }

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let v: Value = serde_json::from_str(r#"{ "b": 1, "a": {"d": [1, 2], "c": "x\"y"} }"#)
            .unwrap_or(Value::Null);
        assert_eq!(canonical_json(&v), r#"{"a":{"c":"x\"y","d":[1,2]},"b":1}"#);
    }

    #[test]
    fn personal_digest_depends_on_salt_and_value() {
        let a = personal_digest("s1", &json!("13800000000"));
        assert!(a.starts_with("sha256:"));
        assert_ne!(a, personal_digest("s2", &json!("13800000000")));
        assert_ne!(a, personal_digest("s1", &json!("13800000001")));
        assert!(!a.contains("13800000000"));
    }

    fn arb_entry() -> impl Strategy<Value = LogEntry> {
        (
            any::<u64>(),
            any::<i64>(),
            "[a-z0-9-]{0,12}",
            proptest::option::of("[a-z]{0,6}"),
            proptest::option::of("\\PC{0,8}"),
            "\\PC{0,16}",
        )
            .prop_map(|(seq, at, id, actor, reason, changes)| LogEntry {
                seq,
                id,
                case_id: "c".into(),
                at,
                actor_id: actor,
                actor_unit_id: None,
                action: "act".into(),
                from_state: None,
                to_state: "s".into(),
                changes,
                reason,
            })
    }

    proptest! {
        /// Different entries never share canonical bytes: the encoding is injective,
        /// so a changed byte in any field changes the leaf hash.
        #[test]
        fn encoding_is_injective(a in arb_entry(), b in arb_entry()) {
            prop_assert_eq!(a == b, a.canonical_bytes() == b.canonical_bytes());
        }

        #[test]
        fn text_shifts_between_fields_change_the_bytes(x in "[a-z]{1,6}", y in "[a-z]{1,6}") {
            let mut a = sample();
            a.actor_id = Some(format!("{x}{y}"));
            a.actor_unit_id = Some(String::new());
            let mut b = sample();
            b.actor_id = Some(x.clone());
            b.actor_unit_id = Some(y.clone());
            prop_assert_ne!(a.leaf_hash(), b.leaf_hash());
        }
    }
}
