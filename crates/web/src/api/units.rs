use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use gongzhi_domain::ids::new_id;
use gongzhi_domain::places::parse_geometry;
use gongzhi_domain::role::Role;
use gongzhi_domain::unit::UnitKind;
use gongzhi_store::NewUnit;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// The unit tree (without polygons). The organisation is no secret to staff.
pub async fn list(State(state): State<AppState>, _auth: Auth) -> Result<Json<Value>, ApiError> {
    let units = state.db.units().await?;
    Ok(Json(json!({"units": units})))
}

pub async fn get_one(
    State(state): State<AppState>,
    _auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let unit = state
        .db
        .unit(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("unit"))?;
    let geometry: Option<Value> = unit
        .geometry
        .as_deref()
        .and_then(|g| serde_json::from_str(g).ok());
    let mut value = serde_json::to_value(&unit).map_err(|_| ApiError::internal())?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("geometry".into(), geometry.unwrap_or(Value::Null));
    }
    Ok(Json(value))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUnit {
    parent_id: String,
    kind: String,
    code: String,
    name: String,
    geometry: Option<Value>,
}

/// Creates a unit under a parent; the caller must be an admin over the parent.
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateUnit>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let kind = UnitKind::parse(&req.kind).ok_or_else(|| {
        ApiError::invalid(
            "kind",
            "must be one of city, district, street, community, grid, department",
        )
    })?;
    let parent = state
        .db
        .unit(&req.parent_id)
        .await?
        .ok_or_else(|| ApiError::invalid("parent_id", "no such unit"))?;
    if !auth.actor.has_role_over(Role::ADMIN, &parent.path) {
        return Err(ApiError::forbidden(
            "the parent unit lies outside your administration",
        ));
    }
    let geometry = match &req.geometry {
        None | Some(Value::Null) => None,
        Some(g) => {
            let shape =
                parse_geometry(g).map_err(|e| ApiError::invalid("geometry", e.to_string()))?;
            let bbox =
                bounding_box(&shape).ok_or_else(|| ApiError::invalid("geometry", "is empty"))?;
            Some((
                gongzhi_domain::places::geometry_to_geojson(&shape).to_string(),
                bbox,
            ))
        }
    };
    let has_geometry = geometry.is_some();
    let by = gongzhi_store::ChangeBy {
        actor_id: Some(auth.actor.user_id.clone()),
        // The narrowest admin grant over the parent is the acting unit.
        actor_unit_id: auth
            .actor
            .assignments
            .iter()
            .filter(|a| {
                a.role == Role::ADMIN
                    && gongzhi_domain::unit::path_within(&parent.path, &a.unit_path)
            })
            .max_by_key(|a| a.unit_path.len())
            .map(|a| a.unit_id.clone()),
    };
    let unit = state
        .db
        .create_unit_logged(
            NewUnit {
                id: new_id(),
                parent_id: Some(parent.id),
                kind,
                code: req.code,
                name: req.name,
                geometry,
            },
            &by,
        )
        .await?;
    if has_geometry {
        state.reload_places().await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(&unit).map_err(|_| ApiError::internal())?),
    ))
}

pub fn bounding_box(shape: &geo::MultiPolygon<f64>) -> Option<[f64; 4]> {
    use geo::BoundingRect;
    shape
        .bounding_rect()
        .map(|r| [r.min().x, r.min().y, r.max().x, r.max().y])
}
