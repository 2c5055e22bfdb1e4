//! Witnessing another gongzhi log over HTTP: fetch its newest checkpoint,
//! check its signature and that it extends the last one this instance
//! cosigned (consistency proof), remember it, then send back a C2SP
//! `cosignature/v1` line.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use gongzhi_domain::checkpoint::{KeySigner, KeyVerifier, cosign, open_checkpoint};
use gongzhi_domain::merkle::{check_consistency, hash_hex, parse_hash};
use gongzhi_store::{Db, WitnessedLog};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    pub origin: String,
    /// The size cosigned before, if any.
    pub previous: Option<u64>,
    pub size: u64,
}

async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value> {
    let res = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = res.status();
    let body: Value = res
        .json()
        .await
        .with_context(|| format!("GET {url}: not JSON"))?;
    if !status.is_success() {
        bail!(
            "GET {url}: {status} {}",
            body["message"].as_str().unwrap_or("")
        );
    }
    Ok(body)
}

/// Witnesses the log at `log_url` (its base URL) once.
pub async fn witness_once(
    client: &reqwest::Client,
    db: &Db,
    log_url: &str,
    log_key: &KeyVerifier,
    witness: &KeySigner,
) -> Result<Witnessed> {
    let base = log_url.trim_end_matches('/');
    let cp = get_json(client, &format!("{base}/api/v1/log/checkpoint")).await?;
    let note = cp["note"].as_str().context("checkpoint without a note")?;
    let opened = open_checkpoint(note, std::slice::from_ref(log_key))
        .map_err(|e| anyhow::anyhow!("{base}: checkpoint refused: {e}"))?;
    let head = &opened.head;
    if head.origin != log_key.name() {
        bail!(
            "{base}: origin {:?} is not the key's {:?}",
            head.origin,
            log_key.name()
        );
    }
    let previous = db.witnessed_log(&head.origin).await?;
    if let Some(prev) = &previous {
        let prev_root = parse_hash(&prev.root_hash).map_err(|e| anyhow::anyhow!("{e}"))?;
        if head.size < prev.tree_size {
            bail!(
                "{}: rolled back from size {} to {}",
                head.origin,
                prev.tree_size,
                head.size
            );
        }
        if head.size == prev.tree_size && head.root != prev_root {
            bail!(
                "{}: two different roots for size {} (a fork)",
                head.origin,
                head.size
            );
        }
        if head.size > prev.tree_size {
            let url = format!(
                "{base}/api/v1/log/proof/consistency?from={}&to={}",
                prev.tree_size, head.size
            );
            let p = get_json(client, &url).await?;
            let proof = p["proof"]
                .as_array()
                .context("consistency proof missing")?
                .iter()
                .map(|h| parse_hash(h.as_str().unwrap_or("")))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            check_consistency(&proof, prev.tree_size, prev_root, head.size, head.root).map_err(|_| {
                anyhow::anyhow!(
                    "{}: checkpoint of size {} does not extend the one of size {} (inconsistent)",
                    head.origin,
                    head.size,
                    prev.tree_size
                )
            })?;
        }
    }
    // Remember before cosigning: a witness never cosigns two views of a log.
    db.set_witnessed_log(&WitnessedLog {
        origin: head.origin.clone(),
        tree_size: head.size,
        root_hash: hash_hex(&head.root),
        note: note.to_string(),
    })
    .await?;
    let line = cosign(&opened.body, witness, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let url = format!("{base}/api/v1/log/cosignatures");
    let res = client
        .post(&url)
        .json(&json!({"tree_size": head.size, "root_hash": hash_hex(&head.root), "signatures": [line]}))
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = res.status();
    if !status.is_success() {
        let body: Value = res.json().await.unwrap_or(Value::Null);
        bail!(
            "POST {url}: {status} {}",
            body["message"].as_str().unwrap_or("")
        );
    }
    Ok(Witnessed {
        origin: head.origin.clone(),
        previous: previous.map(|p| p.tree_size),
        size: head.size,
    })
}
