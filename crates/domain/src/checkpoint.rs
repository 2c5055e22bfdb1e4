//! Signed checkpoints (C2SP tlog-checkpoint inside a C2SP signed note),
//! witness cosignatures (C2SP tlog-cosignature, `cosignature/v1`) and the
//! offline case bundle.
//!
//! Notes, the Ed25519 signature lines and the `name+id+key` key encodings come
//! from the `signed_note` crate; checkpoint bodies from `tlog_tiles`. The
//! cosignature algorithm (key type `0x04`) is written here, as the spec says:
//! the signed message is `cosignature/v1\ntime T\n` followed by the checkpoint
//! body, and the signature is the 8-byte big-endian `T` then the Ed25519
//! signature.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use signed_note::{
    Note, Signature as NoteSignature, Signer, StandardSigner, StandardVerifier, Verifier,
    VerifierList,
};
use thiserror::Error;

use crate::log::LogEntry;
use crate::merkle::{self, Hash};

const ALG_ED25519: u8 = 0x01;
const ALG_COSIGNATURE_V1: u8 = 0x04;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("malformed key: {0}")]
    Key(String),
    #[error("malformed note: {0}")]
    Note(String),
    #[error("malformed checkpoint: {0}")]
    Body(String),
    #[error("signed by key {0}, not by a trusted key")]
    UnknownKey(String),
    #[error("invalid signature by {0}")]
    BadSignature(String),
    #[error("origin {found:?} is not {expected:?}")]
    Origin { found: String, expected: String },
    #[error("signing failed")]
    Signing,
}

/// Whether a name may be a key name (non-empty, no spaces, no `+`).
pub fn valid_origin(name: &str) -> bool {
    signed_note::is_key_name_valid(name)
}

fn key_id(name: &str, alg: u8, public: &[u8; 32]) -> u32 {
    let mut material = Vec::with_capacity(33);
    material.push(alg);
    material.extend_from_slice(public);
    signed_note::key_id(name, &material)
}

fn encode_key(prefix: &str, name: &str, alg: u8, public: &[u8; 32], secret: &[u8]) -> String {
    let id = key_id(name, alg, public);
    let mut material = vec![alg];
    material.extend_from_slice(secret);
    format!("{prefix}{name}+{id:08x}+{}", B64.encode(material))
}

/// A new Ed25519 key pair as (signer key, verifier key), for signing
/// checkpoints (`cosigner = false`) or cosigning them as a witness.
pub fn generate_key(name: &str, cosigner: bool) -> Result<(String, String), CheckpointError> {
    if !valid_origin(name) {
        return Err(CheckpointError::Key(format!("bad key name {name:?}")));
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let public = key.verifying_key().to_bytes();
    let alg = if cosigner {
        ALG_COSIGNATURE_V1
    } else {
        ALG_ED25519
    };
    Ok((
        encode_key("PRIVATE+KEY+", name, alg, &public, &key.to_bytes()),
        encode_key("", name, alg, &public, &public),
    ))
}

fn split_key(text: &str) -> Result<(String, u32, u8, Vec<u8>), CheckpointError> {
    let bad = || CheckpointError::Key("expected NAME+ID+BASE64".into());
    let text = text.trim();
    // Names hold no '+', base64 may: split from the left.
    let rest = text.strip_prefix("PRIVATE+KEY+").unwrap_or(text);
    let mut parts = rest.splitn(3, '+');
    let name = parts.next().ok_or_else(bad)?;
    let id = parts.next().ok_or_else(bad)?;
    let b64 = parts.next().ok_or_else(bad)?;
    if id.len() != 8 || !valid_origin(name) {
        return Err(bad());
    }
    let id = u32::from_str_radix(id, 16).map_err(|_| bad())?;
    let raw = B64.decode(b64).map_err(|_| bad())?;
    let (alg, rest) = raw.split_first().ok_or_else(bad)?;
    Ok((name.to_string(), id, *alg, rest.to_vec()))
}

/// A checkpoint or cosignature signer, with its verifier key.
#[derive(Clone)]
pub struct KeySigner {
    pub kind: SignerKind,
    verifier_key: String,
}

#[derive(Clone)]
pub enum SignerKind {
    Log(StandardSigner),
    Witness(CosignatureSigner),
}

impl std::fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySigner({}+{:08x})", self.name(), self.key_id())
    }
}

impl KeySigner {
    /// Parses a `PRIVATE+KEY+name+id+base64` signer key of either kind.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let (name, id, alg, secret) = split_key(text)?;
        if !text.trim().starts_with("PRIVATE+KEY+") {
            return Err(CheckpointError::Key("not a private key".into()));
        }
        let verifier_key = verifier_key_of(text)?;
        let kind = match alg {
            ALG_ED25519 => StandardSigner::new(text.trim())
                .map(SignerKind::Log)
                .map_err(|e| CheckpointError::Key(e.to_string()))?,
            ALG_COSIGNATURE_V1 => {
                let seed: [u8; 32] = secret
                    .as_slice()
                    .try_into()
                    .map_err(|_| CheckpointError::Key("bad key length".into()))?;
                let key = SigningKey::from_bytes(&seed);
                if id != key_id(&name, alg, &key.verifying_key().to_bytes()) {
                    return Err(CheckpointError::Key("key id does not match the key".into()));
                }
                SignerKind::Witness(CosignatureSigner {
                    name,
                    id,
                    key,
                    time: None,
                })
            }
            other => return Err(CheckpointError::Key(format!("unknown algorithm {other}"))),
        };
        Ok(KeySigner { kind, verifier_key })
    }

    pub fn name(&self) -> &str {
        match &self.kind {
            SignerKind::Log(s) => s.name(),
            SignerKind::Witness(s) => &s.name,
        }
    }

    pub fn key_id(&self) -> u32 {
        match &self.kind {
            SignerKind::Log(s) => s.key_id(),
            SignerKind::Witness(s) => s.id,
        }
    }

    /// The public (verifier) key, `name+hexid+base64`, to publish.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    pub fn is_witness(&self) -> bool {
        matches!(self.kind, SignerKind::Witness(_))
    }

    /// `name+hexid`, how reports and the API name a key.
    pub fn label(&self) -> String {
        format!("{}+{:08x}", self.name(), self.key_id())
    }
}

/// Ed25519 cosigner of C2SP tlog-cosignature (`cosignature/v1`).
#[derive(Clone)]
pub struct CosignatureSigner {
    name: String,
    id: u32,
    key: SigningKey,
    /// Fixed time for tests; the clock otherwise.
    time: Option<u64>,
}

fn cosigned_message(time: u64, body: &[u8]) -> Vec<u8> {
    let mut msg = format!("cosignature/v1\ntime {time}\n").into_bytes();
    msg.extend_from_slice(body);
    msg
}

impl Signer for CosignatureSigner {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        let time = self
            .time
            .unwrap_or_else(|| u64::try_from(crate::time::now_micros() / 1_000_000).unwrap_or(0));
        let sig = self.key.sign(&cosigned_message(time, msg));
        let mut out = time.to_be_bytes().to_vec();
        out.extend_from_slice(&sig.to_bytes());
        Ok(out)
    }
}

/// Verifier of `cosignature/v1` signatures.
#[derive(Clone)]
pub struct CosignatureVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl Verifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        if sig.len() != 72 {
            return false;
        }
        let (time, sig) = sig.split_at(8);
        let Ok(time) = <[u8; 8]>::try_from(time) else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        self.key
            .verify(&cosigned_message(u64::from_be_bytes(time), msg), &sig)
            .is_ok()
    }
}

/// A verifier key of either kind, parsed.
#[derive(Clone)]
pub enum KeyVerifier {
    Log(StandardVerifier),
    Witness(CosignatureVerifier),
}

impl KeyVerifier {
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let text = text.trim();
        let (name, id, alg, public) = split_key(text)?;
        if text.starts_with("PRIVATE+") {
            return Err(CheckpointError::Key("that is a private key".into()));
        }
        match alg {
            ALG_ED25519 => StandardVerifier::new(text)
                .map(KeyVerifier::Log)
                .map_err(|e| CheckpointError::Key(e.to_string())),
            ALG_COSIGNATURE_V1 => {
                let bytes: [u8; 32] = public
                    .as_slice()
                    .try_into()
                    .map_err(|_| CheckpointError::Key("bad key length".into()))?;
                let key = VerifyingKey::from_bytes(&bytes)
                    .map_err(|_| CheckpointError::Key("not an Ed25519 key".into()))?;
                if id != key_id(&name, alg, &bytes) {
                    return Err(CheckpointError::Key("key id does not match the key".into()));
                }
                Ok(KeyVerifier::Witness(CosignatureVerifier { name, id, key }))
            }
            other => Err(CheckpointError::Key(format!("unknown algorithm {other}"))),
        }
    }

    fn boxed(&self) -> Box<dyn Verifier> {
        match self {
            KeyVerifier::Log(v) => Box::new(v.clone()),
            KeyVerifier::Witness(v) => Box::new(v.clone()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            KeyVerifier::Log(v) => v.name(),
            KeyVerifier::Witness(v) => &v.name,
        }
    }

    pub fn key_id(&self) -> u32 {
        match self {
            KeyVerifier::Log(v) => v.key_id(),
            KeyVerifier::Witness(v) => v.id,
        }
    }

    pub fn label(&self) -> String {
        format!("{}+{:08x}", self.name(), self.key_id())
    }
}

/// The verifier key matching a signer key.
pub fn verifier_key_of(signer_key: &str) -> Result<String, CheckpointError> {
    let (name, id, alg, secret) = split_key(signer_key)?;
    let seed: [u8; 32] = secret
        .as_slice()
        .try_into()
        .map_err(|_| CheckpointError::Key("bad key length".into()))?;
    let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    if id != key_id(&name, alg, &public) {
        return Err(CheckpointError::Key("key id does not match the key".into()));
    }
    Ok(encode_key("", &name, alg, &public, &public))
}

/// A tree head: what a checkpoint says.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeHead {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl TreeHead {
    /// The C2SP tlog-checkpoint body (the note text).
    pub fn body(&self) -> Result<String, CheckpointError> {
        let cp = tlog_tiles::Checkpoint::new(&self.origin, self.size, self.root, "")
            .map_err(|e| CheckpointError::Body(e.to_string()))?;
        String::from_utf8(cp.to_bytes()).map_err(|e| CheckpointError::Body(e.to_string()))
    }

    pub fn parse_body(text: &[u8]) -> Result<Self, CheckpointError> {
        let cp = tlog_tiles::Checkpoint::from_bytes(text)
            .map_err(|e| CheckpointError::Body(e.to_string()))?;
        Ok(TreeHead {
            origin: cp.origin().to_string(),
            size: cp.size(),
            root: *cp.hash(),
        })
    }
}

/// Signs a tree head with one or more log keys (several during a key rotation).
pub fn sign_checkpoint(head: &TreeHead, signers: &[&KeySigner]) -> Result<String, CheckpointError> {
    let body = head.body()?;
    let mut note =
        Note::new(body.as_bytes(), &[]).map_err(|e| CheckpointError::Note(e.to_string()))?;
    let dyn_signers: Vec<&dyn Signer> = signers
        .iter()
        .map(|s| match &s.kind {
            SignerKind::Log(s) => s as &dyn Signer,
            SignerKind::Witness(s) => s as &dyn Signer,
        })
        .collect();
    note.add_sigs(&dyn_signers)
        .map_err(|_| CheckpointError::Signing)?;
    String::from_utf8(note.to_bytes()).map_err(|e| CheckpointError::Note(e.to_string()))
}

/// A checkpoint whose signatures were checked.
#[derive(Debug, Clone)]
pub struct OpenedCheckpoint {
    pub head: TreeHead,
    /// The note text (the checkpoint body).
    pub body: String,
    /// `name+hexid` of every signature that verified.
    pub verified: Vec<String>,
    /// Signature lines from keys not given (for example witnesses).
    pub unverified: Vec<String>,
}

fn label_of(sig: &NoteSignature) -> String {
    format!("{}+{:08x}", sig.name(), sig.id())
}

/// Parses a signed checkpoint and checks it against `keys`. At least one
/// signature must verify; any signature by a given key that fails is an error.
pub fn open_checkpoint(
    note: &str,
    keys: &[KeyVerifier],
) -> Result<OpenedCheckpoint, CheckpointError> {
    let parsed =
        Note::from_bytes(note.as_bytes()).map_err(|e| CheckpointError::Note(e.to_string()))?;
    let head = TreeHead::parse_body(parsed.text())?;
    let list = VerifierList::new(keys.iter().map(KeyVerifier::boxed).collect());
    match parsed.verify(&list) {
        Ok((verified, unverified)) => Ok(OpenedCheckpoint {
            head,
            body: String::from_utf8_lossy(parsed.text()).into_owned(),
            verified: verified.iter().map(label_of).collect(),
            unverified: unverified
                .iter()
                .map(|s| String::from_utf8_lossy(&s.to_bytes()).into_owned())
                .collect(),
        }),
        Err(signed_note::NoteError::UnverifiedNote) => {
            let first = note_signers(note).into_iter().next().unwrap_or_default();
            Err(CheckpointError::UnknownKey(first))
        }
        Err(signed_note::NoteError::InvalidSignature { name, id }) => {
            Err(CheckpointError::BadSignature(format!("{name}+{id:08x}")))
        }
        Err(e) => Err(CheckpointError::Note(e.to_string())),
    }
}

/// `name+hexid` of every signature line of a note, unchecked.
pub fn note_signers(note: &str) -> Vec<String> {
    let Some((_, sigs)) = note.split_once("\n\n") else {
        return Vec::new();
    };
    sigs.lines()
        .filter_map(|line| NoteSignature::from_bytes(line.as_bytes()).ok())
        .map(|s| label_of(&s))
        .collect()
}

/// The note with only the signatures by key `label` (`name+hexid`), or `None`
/// when that key did not sign it. Bundles carry the log's signature alone.
pub fn restrict_note(note: &str, label: &str) -> Option<String> {
    let (text, sigs) = note.split_once("\n\n")?;
    let kept: Vec<&str> = sigs
        .lines()
        .filter(|line| {
            NoteSignature::from_bytes(line.as_bytes()).is_ok_and(|s| label_of(&s) == label)
        })
        .collect();
    if kept.is_empty() {
        return None;
    }
    let mut out = format!("{text}\n\n");
    for line in kept {
        out.push_str(line);
        out.push('\n');
    }
    Some(out)
}

/// Cosigns a checkpoint body as a witness; returns the signature line
/// (`— name base64\n`).
pub fn cosign(
    body: &str,
    witness: &KeySigner,
    time: Option<u64>,
) -> Result<String, CheckpointError> {
    let SignerKind::Witness(w) = &witness.kind else {
        return Err(CheckpointError::Key(
            "not a witness (cosignature/v1) key".into(),
        ));
    };
    let mut signer = w.clone();
    signer.time = time;
    let mut note =
        Note::new(body.as_bytes(), &[]).map_err(|e| CheckpointError::Note(e.to_string()))?;
    note.add_sigs(&[&signer as &dyn Signer])
        .map_err(|_| CheckpointError::Signing)?;
    let text =
        String::from_utf8(note.to_bytes()).map_err(|e| CheckpointError::Note(e.to_string()))?;
    Ok(text
        .split_once("\n\n")
        .map(|(_, sig)| sig.to_string())
        .unwrap_or_default())
}

/// Checks a cosignature line over `body` against the witnesses' keys; returns
/// the witness's `name+hexid` and the time it cosigned at (seconds).
pub fn check_cosignature(
    body: &str,
    line: &str,
    witnesses: &[KeyVerifier],
) -> Result<(String, u64), CheckpointError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    if line.contains('\n') {
        return Err(CheckpointError::Note("one signature line expected".into()));
    }
    let sig = NoteSignature::from_bytes(line.as_bytes())
        .map_err(|e| CheckpointError::Note(e.to_string()))?;
    let label = label_of(&sig);
    let Some(key) = witnesses
        .iter()
        .find(|k| k.name() == sig.name() && k.key_id() == sig.id())
    else {
        return Err(CheckpointError::UnknownKey(label));
    };
    let KeyVerifier::Witness(w) = key else {
        return Err(CheckpointError::UnknownKey(label));
    };
    if !w.verify(body.as_bytes(), sig.signature()) {
        return Err(CheckpointError::BadSignature(label));
    }
    let time = sig
        .signature()
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0);
    Ok((label, time))
}

/// Everything needed to check a case's history offline: its entries, each
/// with its inclusion proof, and the signed checkpoint they are proven against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub format: String,
    pub case_id: String,
    /// The signed checkpoint note (log signature only).
    pub checkpoint: String,
    pub entries: Vec<BundleEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleEntry {
    pub entry: LogEntry,
    /// Inclusion proof, leaf side first, lowercase hex.
    pub proof: Vec<String>,
}

pub const BUNDLE_FORMAT: &str = "gongzhi-bundle-v1";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("not a bundle: {0}")]
    Malformed(String),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("entry {id} (seq {seq}): {problem}")]
    Entry {
        id: String,
        seq: u64,
        problem: String,
    },
}

/// A verified bundle's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSummary {
    pub case_id: String,
    pub entries: usize,
    pub tree_size: u64,
    pub key: String,
}

impl Bundle {
    /// The file text: compact JSON and one newline. Verification demands this
    /// exact spelling, so that changing any byte of a file is detected.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Checks a bundle file against the log's public key, offline.
    pub fn verify_text(text: &[u8], key: &KeyVerifier) -> Result<BundleSummary, BundleError> {
        let bundle: Bundle =
            serde_json::from_slice(text).map_err(|e| BundleError::Malformed(e.to_string()))?;
        if bundle.to_text().as_bytes() != text {
            return Err(BundleError::Malformed(
                "not in canonical form (the file was edited)".into(),
            ));
        }
        bundle.verify(key)
    }

    pub fn verify(&self, key: &KeyVerifier) -> Result<BundleSummary, BundleError> {
        if self.format != BUNDLE_FORMAT {
            return Err(BundleError::Malformed(format!("format {:?}", self.format)));
        }
        if !matches!(key, KeyVerifier::Log(_)) {
            return Err(BundleError::Checkpoint(CheckpointError::Key(
                "a log key is needed, not a witness key".into(),
            )));
        }
        let opened = open_checkpoint(&self.checkpoint, std::slice::from_ref(key))?;
        // Every signature must be the log's: nothing unchecked rides along.
        if let Some(other) = opened.unverified.first() {
            return Err(BundleError::Checkpoint(CheckpointError::UnknownKey(
                other.trim_end().to_string(),
            )));
        }
        if opened.head.origin != key.name() {
            return Err(BundleError::Checkpoint(CheckpointError::Origin {
                found: opened.head.origin,
                expected: key.name().to_string(),
            }));
        }
        if self.entries.is_empty() {
            return Err(BundleError::Malformed("no entries".into()));
        }
        let mut last_seq = None;
        for item in &self.entries {
            let e = &item.entry;
            let fail = |problem: String| BundleError::Entry {
                id: e.id.clone(),
                seq: e.seq,
                problem,
            };
            if e.case_id != self.case_id {
                return Err(fail(format!("belongs to case {}", e.case_id)));
            }
            if last_seq.is_some_and(|s| s >= e.seq) {
                return Err(fail("entries out of order".into()));
            }
            last_seq = Some(e.seq);
            let proof = item
                .proof
                .iter()
                .map(|h| merkle::parse_hash(h))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| fail(err.to_string()))?;
            merkle::check_inclusion(
                &proof,
                e.seq,
                opened.head.size,
                Hash(e.leaf_hash()),
                opened.head.root,
            )
            .map_err(|err| fail(format!("not in the signed tree: {err}")))?;
        }
        Ok(BundleSummary {
            case_id: self.case_id.clone(),
            entries: self.entries.len(),
            tree_size: opened.head.size,
            key: key.label(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The signed-note example of the C2SP spec and Go's golang.org/x/mod/sumdb/note.
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    #[test]
    fn c2sp_signed_note_vector() {
        let signer = KeySigner::parse(PETER_SKEY).unwrap();
        assert_eq!(verifier_key_of(PETER_SKEY).unwrap(), PETER_VKEY);
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
        let SignerKind::Log(s) = &signer.kind else {
            panic!("log key")
        };
        let mut note = Note::new(text.as_bytes(), &[]).unwrap();
        note.add_sigs(&[s as &dyn Signer]).unwrap();
        let want = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n\
                    \n\
                    — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        assert_eq!(String::from_utf8(note.to_bytes()).unwrap(), want);
    }

    fn head(size: u64) -> TreeHead {
        TreeHead {
            origin: "example.com/log".into(),
            size,
            root: merkle::leaf_hash(&size.to_be_bytes()),
        }
    }

    #[test]
    fn checkpoint_body_is_c2sp_format() {
        let h = TreeHead {
            origin: "example.com/log".into(),
            size: 7,
            root: crate::merkle::EMPTY_HASH,
        };
        assert_eq!(
            h.body().unwrap(),
            "example.com/log\n7\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
        );
        assert_eq!(
            TreeHead::parse_body(h.body().unwrap().as_bytes()).unwrap(),
            h
        );
    }

    #[test]
    fn sign_open_and_reject_other_keys() {
        let (sk, vk) = generate_key("example.com/log", false).unwrap();
        let signer = KeySigner::parse(&sk).unwrap();
        assert_eq!(signer.verifier_key(), vk);
        let verifier = KeyVerifier::parse(&vk).unwrap();
        let note = sign_checkpoint(&head(5), &[&signer]).unwrap();
        let opened = open_checkpoint(&note, std::slice::from_ref(&verifier)).unwrap();
        assert_eq!(opened.head, head(5));
        assert_eq!(opened.verified, vec![signer.label()]);

        let (sk2, _) = generate_key("example.com/log", false).unwrap();
        let other = KeySigner::parse(&sk2).unwrap();
        let forged = sign_checkpoint(&head(5), &[&other]).unwrap();
        assert_eq!(
            open_checkpoint(&forged, std::slice::from_ref(&verifier)).unwrap_err(),
            CheckpointError::UnknownKey(other.label())
        );
        // A changed body breaks the signature.
        let tampered = note.replacen("\n5\n", "\n6\n", 1);
        assert!(matches!(
            open_checkpoint(&tampered, &[verifier]),
            Err(CheckpointError::BadSignature(_))
        ));
    }

    #[test]
    fn cosignatures_round_trip_and_bind_the_body() {
        let (wsk, wvk) = generate_key("witness.example", true).unwrap();
        assert!(wsk.starts_with("PRIVATE+KEY+witness.example+"));
        let witness = KeySigner::parse(&wsk).unwrap();
        let verifier = KeyVerifier::parse(&wvk).unwrap();
        assert_eq!(verifier_key_of(&wsk).unwrap(), wvk);
        let body = head(9).body().unwrap();
        let line = cosign(&body, &witness, Some(1_700_000_000)).unwrap();
        assert!(line.starts_with("— witness.example "));
        let (label, time) =
            check_cosignature(&body, &line, std::slice::from_ref(&verifier)).unwrap();
        assert_eq!((label, time), (witness.label(), 1_700_000_000));
        let other_body = head(10).body().unwrap();
        assert!(check_cosignature(&other_body, &line, std::slice::from_ref(&verifier)).is_err());
        // A cosignature is not a checkpoint signature and vice versa.
        let (sk, vk) = generate_key("witness.example", false).unwrap();
        assert!(cosign(&body, &KeySigner::parse(&sk).unwrap(), None).is_err());
        assert!(check_cosignature(&body, &line, &[KeyVerifier::parse(&vk).unwrap()]).is_err());
        // The signed message is cosignature/v1's.
        let KeyVerifier::Witness(w) = &verifier else {
            panic!()
        };
        let sig = NoteSignature::from_bytes(line.trim_end().as_bytes()).unwrap();
        let raw = sig.signature();
        let expected_msg = format!("cosignature/v1\ntime 1700000000\n{body}");
        assert!(
            w.key
                .verify(
                    expected_msg.as_bytes(),
                    &ed25519_dalek::Signature::from_slice(&raw[8..]).unwrap()
                )
                .is_ok()
        );
    }

    #[test]
    fn keys_are_refused_when_malformed() {
        assert!(KeyVerifier::parse("nonsense").is_err());
        assert!(KeyVerifier::parse(PETER_SKEY).is_err());
        assert!(KeySigner::parse(PETER_VKEY).is_err());
        let tampered = PETER_VKEY.replace("c74f20a3", "c74f20a4");
        assert!(KeyVerifier::parse(&tampered).is_err());
        assert!(generate_key("bad name", false).is_err());
    }
}
