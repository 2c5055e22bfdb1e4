//! Who a case may be assigned to: for each person field of its type, the
//! staff holding one of the field's roles over the unit that holds the case,
//! with how many open cases each already has.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use gongzhi_domain::pack::FieldKind;

use crate::api::cases::visible_case;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn candidates(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let case = visible_case(&state, &auth.actor, &id).await?;
    let Some(case_type) = state.packs.case_type(&case.pack, &case.case_type) else {
        return Err(ApiError::internal());
    };
    let mut fields = Map::new();
    for def in case_type.fields.values() {
        if !matches!(def.kind, FieldKind::Person { .. }) {
            continue;
        }
        let people = state
            .db
            .person_candidates(case_type, &def.key, &case)
            .await?;
        fields.insert(
            def.key.clone(),
            serde_json::to_value(&people).map_err(|_| ApiError::internal())?,
        );
    }
    Ok(Json(json!({
        "assignee_user_id": case.assignee_user_id,
        "fields": fields,
    })))
}
