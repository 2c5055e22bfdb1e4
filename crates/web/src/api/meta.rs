use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.db.ping().await.map_err(|e| {
        tracing::error!(error = %e, "health check");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database does not answer",
        )
    })?;
    Ok(Json(
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
    ))
}

pub async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

/// The loaded packs' case types: fields, states, actions (for forms and clients).
pub async fn packs(State(state): State<AppState>, _auth: Auth) -> Json<Value> {
    let types: Vec<Value> = state
        .packs
        .case_types()
        .map(|t| {
            json!({
                "pack": t.pack_id,
                "pack_version": t.pack_version,
                "id": t.id,
                "name": {"zh": t.name.zh, "en": t.name.en},
                "fields": t.fields.values().map(|f| json!({
                    "key": f.key, "label": {"zh": f.label.zh, "en": f.label.en},
                    "kind": format!("{:?}", f.kind), "personal": f.personal,
                })).collect::<Vec<_>>(),
                "states": t.states.values().map(|s| json!({
                    "id": s.id, "name": {"zh": s.name.zh, "en": s.name.en}, "terminal": s.terminal,
                    "deadline": s.deadline.as_ref().map(|d| d.rule.to_string()),
                })).collect::<Vec<_>>(),
                "actions": t.actions.values().map(|a| json!({
                    "id": a.id, "name": {"zh": a.name.zh, "en": a.name.en}, "from": a.from, "to": a.to,
                    "roles": a.roles, "requires": a.requires, "allows": a.allows,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let roles: Vec<Value> = state
        .packs
        .roles()
        .map(|r| {
            json!({
                "id": r.role, "name": {"zh": r.name.zh, "en": r.name.en},
                "reveal_personal": r.reveal_personal, "pages": r.pages,
            })
        })
        .collect();
    Json(json!({"case_types": types, "roles": roles}))
}
