//! The tamper-evident log: checkpoints, keys, proofs, witness cosignatures and
//! case bundles. Everything but the bundle is public: checkpoints and proofs
//! carry only hashes, and witnesses are other parties without accounts here.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use gongzhi_domain::checkpoint::{TreeHead, check_cosignature};
use gongzhi_domain::merkle::{self, hash_hex};
use gongzhi_store::{StoredCheckpoint, StoredCosignature};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

fn not_ready() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "log_not_ready",
        "no checkpoint has been signed yet; try again in a second",
    )
}

/// A checkpoint as the API shows it: the note carries the log's signature and
/// then every cosignature received, so it verifies as one C2SP signed note.
fn checkpoint_json(state: &AppState, cp: &StoredCheckpoint, cosigs: &[StoredCosignature]) -> Value {
    let mine: Vec<&StoredCosignature> =
        cosigs.iter().filter(|c| c.checkpoint_id == cp.id).collect();
    let mut note = cp.note.clone();
    for c in &mine {
        note.push_str(c.line.trim_end());
        note.push('\n');
    }
    let witnesses = state.config.log.witness_labels();
    let counted = mine
        .iter()
        .filter(|c| witnesses.contains(&c.witness))
        .count();
    json!({
        "id": cp.id,
        "tree_size": cp.tree_size,
        "root_hash": cp.root_hash,
        "created_at": gongzhi_domain::time::to_rfc3339(cp.created_at),
        "note": note,
        "cosignatures": mine.iter().map(|c| json!({"witness": c.witness, "cosigned_at": c.cosigned_at})).collect::<Vec<_>>(),
        "witnessed": state.config.log.quorum > 0 && counted >= state.config.log.quorum,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointQuery {
    /// Only a checkpoint cosigned by a quorum of the configured witnesses.
    #[serde(default)]
    witnessed: bool,
}

pub async fn checkpoint(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<CheckpointQuery>,
) -> Result<Json<Value>, ApiError> {
    let cp = if q.witnessed {
        let cfg = &state.config.log;
        if cfg.quorum == 0 {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "no_witnesses",
                "this instance has no witness quorum configured",
            ));
        }
        state
            .db
            .latest_witnessed_checkpoint(&cfg.witness_labels(), cfg.quorum)
            .await?
    } else {
        state.db.latest_checkpoint().await?
    };
    let cp = cp.ok_or_else(not_ready)?;
    let cosigs = state.db.cosignatures(std::slice::from_ref(&cp.id)).await?;
    Ok(Json(checkpoint_json(&state, &cp, &cosigs)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Only checkpoints of fewer entries than this (paging backwards).
    below_size: Option<u64>,
    limit: Option<i64>,
}

pub async fn checkpoints(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let list = state.db.checkpoints(q.below_size, limit).await?;
    let ids: Vec<String> = list.iter().map(|c| c.id.clone()).collect();
    let cosigs = state.db.cosignatures(&ids).await?;
    let items: Vec<Value> = list
        .iter()
        .map(|cp| checkpoint_json(&state, cp, &cosigs))
        .collect();
    Ok(Json(json!({"checkpoints": items})))
}

pub async fn key(State(state): State<AppState>) -> Json<Value> {
    let cfg = &state.config.log;
    Json(json!({
        "origin": cfg.origin(),
        "key": cfg.signer.verifier_key(),
        "key_id": cfg.signer.label(),
        "retired": cfg.retired,
        "witnesses": cfg.witnesses.iter().map(|w| w.label()).collect::<Vec<_>>(),
        "quorum": cfg.quorum,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    seq: u64,
    /// A checkpoint's tree size; the newest checkpoint when absent.
    size: Option<u64>,
}

async fn checkpoint_for(state: &AppState, size: Option<u64>) -> Result<StoredCheckpoint, ApiError> {
    match size {
        None => state.db.latest_checkpoint().await?.ok_or_else(not_ready),
        Some(size) => state.db.checkpoint_at_size(size).await?.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "checkpoint_not_found",
                format!("no checkpoint of size {size}"),
            )
        }),
    }
}

pub async fn inclusion(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<InclusionQuery>,
) -> Result<Json<Value>, ApiError> {
    let cp = checkpoint_for(&state, q.size).await?;
    if q.seq >= cp.tree_size {
        return Err(ApiError::invalid(
            "seq",
            format!(
                "entry {} is not in the checkpoint of size {}",
                q.seq, cp.tree_size
            ),
        ));
    }
    let (entry, _) = state
        .db
        .log_entry_at(q.seq)
        .await?
        .ok_or_else(|| ApiError::not_found("entry"))?;
    let proof = state.db.inclusion_proof(q.seq, cp.tree_size).await?;
    Ok(Json(json!({
        "seq": q.seq,
        "entry_id": entry.id,
        "leaf_hash": entry.leaf_hash_hex(),
        "tree_size": cp.tree_size,
        "root_hash": cp.root_hash,
        "checkpoint": cp.note,
        "proof": proof.iter().map(hash_hex).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    from: u64,
    /// The newest checkpoint's size when absent.
    to: Option<u64>,
}

pub async fn consistency(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<Value>, ApiError> {
    let to = checkpoint_for(&state, q.to).await?;
    if q.from > to.tree_size {
        return Err(ApiError::invalid(
            "from",
            format!(
                "{} is beyond the checkpoint of size {}",
                q.from, to.tree_size
            ),
        ));
    }
    let proof = state.db.consistency_proof(q.from, to.tree_size).await?;
    Ok(Json(json!({
        "from": q.from,
        "to": to.tree_size,
        "root_hash": to.root_hash,
        "proof": proof.iter().map(hash_hex).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosignBody {
    /// The size of the checkpoint cosigned.
    tree_size: u64,
    /// Its root hash (hex), so a cosignature never lands on another checkpoint.
    root_hash: String,
    /// C2SP signature lines, `— name base64`.
    signatures: Vec<String>,
}

/// Takes witness cosignatures. Only lines that verify under a configured
/// witness key over the stored checkpoint body are kept.
pub async fn cosign(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CosignBody>,
) -> Result<Json<Value>, ApiError> {
    if body.signatures.is_empty() || body.signatures.len() > 16 {
        return Err(ApiError::invalid(
            "signatures",
            "send 1 to 16 signature lines",
        ));
    }
    let cp = state
        .db
        .checkpoint_at_size(body.tree_size)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "checkpoint_not_found",
                format!("no checkpoint of size {}", body.tree_size),
            )
        })?;
    if cp.root_hash != body.root_hash {
        return Err(ApiError::invalid(
            "root_hash",
            "not the root of that checkpoint",
        ));
    }
    let head = TreeHead {
        origin: state.config.log.origin().to_string(),
        size: cp.tree_size,
        root: merkle::parse_hash(&cp.root_hash).map_err(|_| ApiError::internal())?,
    };
    let text = head.body().map_err(|_| ApiError::internal())?;
    let mut accepted = 0;
    for line in &body.signatures {
        match check_cosignature(&text, line, &state.config.log.witnesses) {
            Ok((witness, time)) => {
                let time = i64::try_from(time).unwrap_or(i64::MAX);
                if state
                    .db
                    .add_cosignature(&cp.id, &witness, line.trim_end(), time)
                    .await?
                {
                    tracing::info!(witness, size = cp.tree_size, "checkpoint cosigned");
                }
                accepted += 1;
            }
            Err(e) => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "bad_cosignature",
                    e.to_string(),
                ));
            }
        }
    }
    let cosigs = state.db.cosignatures(std::slice::from_ref(&cp.id)).await?;
    let mut out = checkpoint_json(&state, &cp, &cosigs);
    if let Some(obj) = out.as_object_mut() {
        obj.insert("accepted".into(), json!(accepted));
    }
    Ok(Json(out))
}

/// The case's export bundle: the exact file `gongzhi verify-bundle` checks.
pub async fn bundle(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let case = super::cases::visible_case(&state, &auth.actor, &id).await?;
    let bundle = state
        .db
        .case_bundle(&case.id, &state.config.log.signer.label())
        .await?
        .ok_or_else(not_ready)?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        bundle.to_text(),
    )
        .into_response())
}
