use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LocateQuery {
    lat: Option<String>,
    lng: Option<String>,
}

fn coordinate(name: &str, text: Option<&str>, limit: f64) -> Result<f64, ApiError> {
    let text = text.ok_or_else(|| ApiError::invalid(name, "is required"))?;
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| ApiError::invalid(name, "must be a decimal number"))?;
    if !value.is_finite() || value.abs() > limit {
        return Err(ApiError::invalid(
            name,
            format!("must be between -{limit} and {limit}"),
        ));
    }
    Ok(value)
}

/// The chain of units containing a point, from the deepest (grid) up to the
/// top. A point in no polygon answers `found: false` with an empty chain.
pub async fn locate(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LocateQuery>,
) -> Result<Json<Value>, ApiError> {
    let lat = coordinate("lat", q.lat.as_deref(), 90.0)?;
    let lng = coordinate("lng", q.lng.as_deref(), 180.0)?;
    let places = state.places();
    let chain: Vec<Value> = places
        .locate_chain(lng, lat)
        .into_iter()
        .map(|u| json!({"id": u.id, "code": u.code, "name": u.name, "kind": u.kind}))
        .collect();
    Ok(Json(
        json!({"found": !chain.is_empty(), "lat": lat, "lng": lng, "chain": chain}),
    ))
}
