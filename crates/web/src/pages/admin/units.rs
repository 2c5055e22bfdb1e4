//! The unit tree of the admin's subtrees: create a child unit, rename one,
//! and import grids from a GeoJSON file as a background job.

use std::sync::Arc;

use askama::Template;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Query, Request, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;

use gongzhi_domain::ids::new_id;
use gongzhi_domain::places::{ImportMapping, parse_feature_collection};
use gongzhi_domain::unit::UnitKind;
use gongzhi_store::{GridImportError, NewUnit};

use crate::api::attachments::{multipart_error, multipart_rejection};
use crate::api::grid::read_photo;
use crate::state::jobs::JobState;
use crate::state::{AppState, ServerConfig, UPLOAD_OVERHEAD};

use super::super::{Ctx, Lang, PageError, Staff, render, see_other};
use super::{change_by, check_post, covers, done_notice, input_error, is_admin, refuse};

/// The largest GeoJSON file accepted for a grid import.
pub const GRID_IMPORT_MAX_BYTES: usize = 32 * 1024 * 1024;

pub fn upload_routes(_config: &ServerConfig) -> Router<AppState> {
    Router::new().route(
        "/admin/grids/import",
        post(import.layer(DefaultBodyLimit::max(
            GRID_IMPORT_MAX_BYTES.saturating_add(UPLOAD_OVERHEAD),
        ))),
    )
}

pub struct UnitRow {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: &'static str,
    pub depth: usize,
    /// Whether units may be created under it (a grid has no children).
    pub may_have_children: bool,
}

pub struct KindOption {
    pub value: &'static str,
    pub label: &'static str,
}

/// What the forms held, kept when they come back with an error.
#[derive(Deserialize, Default)]
pub struct UnitForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    parent_id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    unit_id: String,
}

#[derive(Template)]
#[template(path = "admin_units.html")]
struct UnitsPage {
    p: Ctx,
    section: &'static str,
    rows: Vec<UnitRow>,
    kinds: Vec<KindOption>,
    form: UnitForm,
    errors: Vec<String>,
    notice: String,
    import_hint: String,
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

pub fn kind_label(lang: Lang, kind: UnitKind) -> &'static str {
    lang.t(match kind {
        UnitKind::City => "admin.kind_city",
        UnitKind::District => "admin.kind_district",
        UnitKind::Street => "admin.kind_street",
        UnitKind::Community => "admin.kind_community",
        UnitKind::Grid => "admin.kind_grid",
        UnitKind::Department => "admin.kind_department",
    })
}

/// The units inside the staff member's admin subtrees, parents first.
pub async fn units_in_scope(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
) -> Result<Vec<UnitRow>, PageError> {
    let units = state.db.units().await?;
    let visible: Vec<_> = units.iter().filter(|u| covers(staff, &u.path)).collect();
    let top = visible
        .iter()
        .map(|u| u.path.matches('/').count())
        .min()
        .unwrap_or(0);
    let mut rows: Vec<UnitRow> = visible
        .into_iter()
        .map(|u| UnitRow {
            id: u.id.clone(),
            code: u.code.clone(),
            name: u.name.clone(),
            kind: kind_label(lang, u.kind),
            depth: u.path.matches('/').count().saturating_sub(top),
            may_have_children: u.kind != UnitKind::Grid,
        })
        .collect();
    // Paths sort parents first but siblings by id; show siblings by code.
    let path_of: std::collections::HashMap<&str, &str> = units
        .iter()
        .map(|u| (u.id.as_str(), u.path.as_str()))
        .collect();
    let code_of: std::collections::HashMap<&str, &str> = units
        .iter()
        .map(|u| (u.id.as_str(), u.code.as_str()))
        .collect();
    let key = |id: &str| -> Vec<String> {
        path_of
            .get(id)
            .map(|p| {
                p.split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| code_of.get(s).copied().unwrap_or(s).to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    rows.sort_by_cached_key(|r| key(&r.id));
    Ok(rows)
}

async fn page_with(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    form: UnitForm,
    errors: Vec<String>,
    notice: String,
    status: StatusCode,
) -> Response {
    let rows = match units_in_scope(state, lang, staff).await {
        Ok(rows) => rows,
        Err(e) => return e.render(state, lang, Some(staff)),
    };
    let kinds = UnitKind::ALL
        .into_iter()
        .filter(|k| *k != UnitKind::City)
        .map(|k| KindOption {
            value: k.as_str(),
            label: kind_label(lang, k),
        })
        .collect();
    let page = UnitsPage {
        p: Ctx::new(state, lang, Some(staff), "/admin/units"),
        section: "units",
        rows,
        kinds,
        form,
        errors,
        notice,
        import_hint: lang.tf(
            "admin.import_hint",
            &[("mb", &(GRID_IMPORT_MAX_BYTES / (1024 * 1024)).to_string())],
        ),
    };
    render(status, &page)
}

pub async fn page(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Query(q): Query<DoneQuery>,
) -> Response {
    if !is_admin(&staff) {
        return refuse(&state, lang, &staff);
    }
    let notice = done_notice(lang, q.done.as_deref());
    page_with(
        &state,
        lang,
        &staff,
        UnitForm::default(),
        Vec::new(),
        notice,
        StatusCode::OK,
    )
    .await
}

/// The unit with this id if it lies in the admin's subtrees.
async fn unit_in_scope(
    state: &AppState,
    staff: &Staff,
    id: &str,
) -> Result<Option<gongzhi_store::Unit>, PageError> {
    if id.is_empty() {
        return Ok(None);
    }
    Ok(state.db.unit(id).await?.filter(|u| covers(staff, &u.path)))
}

pub async fn create(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Form(form): Form<UnitForm>,
) -> Response {
    if let Some(refused) = check_post(&state, lang, &staff, &form.csrf_token) {
        return refused;
    }
    let mut errors = Vec::new();
    let parent = match unit_in_scope(&state, &staff, &form.parent_id).await {
        Ok(p) => p,
        Err(e) => return e.render(&state, lang, Some(&staff)),
    };
    if parent.is_none() {
        errors.push(lang.t("admin.error_parent").to_string());
    }
    let kind = UnitKind::parse(&form.kind).filter(|k| *k != UnitKind::City);
    if kind.is_none() {
        errors.push(lang.t("admin.error_kind").to_string());
    }
    if let (Some(parent), Some(kind), true) = (parent, kind, errors.is_empty()) {
        let unit = NewUnit {
            id: new_id(),
            parent_id: Some(parent.id),
            kind,
            code: form.code.trim().to_string(),
            name: form.name.trim().to_string(),
            geometry: None,
        };
        match state.db.create_unit_logged(unit, &change_by(&staff)).await {
            Ok(_) => {
                if let Err(e) = state.reload_places().await {
                    tracing::error!(error = %e, "reloading places after a unit was created");
                }
                return see_other("/admin/units?done=unit_created");
            }
            Err(e) => match input_error(lang, &e) {
                Some(message) => errors.push(message),
                None => return PageError::from(e).render(&state, lang, Some(&staff)),
            },
        }
    }
    page_with(
        &state,
        lang,
        &staff,
        form,
        errors,
        String::new(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

pub async fn rename(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Form(form): Form<UnitForm>,
) -> Response {
    if let Some(refused) = check_post(&state, lang, &staff, &form.csrf_token) {
        return refused;
    }
    let unit = match unit_in_scope(&state, &staff, &form.unit_id).await {
        Ok(u) => u,
        Err(e) => return e.render(&state, lang, Some(&staff)),
    };
    let mut errors = Vec::new();
    match unit {
        None => errors.push(lang.t("admin.error_unit_pick").to_string()),
        Some(unit) => match state
            .db
            .rename_unit(&unit.id, &form.name, &change_by(&staff))
            .await
        {
            Ok(()) => {
                if let Err(e) = state.reload_places().await {
                    tracing::error!(error = %e, "reloading places after a rename");
                }
                return see_other("/admin/units?done=unit_renamed");
            }
            Err(e) => match input_error(lang, &e) {
                Some(message) => errors.push(message),
                None => return PageError::from(e).render(&state, lang, Some(&staff)),
            },
        },
    }
    page_with(
        &state,
        lang,
        &staff,
        form,
        errors,
        String::new(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// The import form's fields and file.
struct ImportUpload {
    csrf_token: String,
    parent: String,
    name_property: String,
    code_property: String,
    parent_property: String,
    file: Vec<u8>,
}

async fn read_upload(state: &AppState, request: Request) -> Result<ImportUpload, crate::ApiError> {
    let limit = GRID_IMPORT_MAX_BYTES;
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(multipart_rejection)?;
    let mut upload = ImportUpload {
        csrf_token: String::new(),
        parent: String::new(),
        name_property: String::new(),
        code_property: String::new(),
        parent_property: String::new(),
        file: Vec::new(),
    };
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, limit))?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name == "geojson" {
            upload.file = read_photo(&mut field, limit).await?;
            continue;
        }
        let value = field.text().await.map_err(|e| multipart_error(e, limit))?;
        let value = value.trim().to_string();
        match name.as_str() {
            "csrf_token" => upload.csrf_token = value,
            "parent" => upload.parent = value,
            "name_property" => upload.name_property = value,
            "code_property" => upload.code_property = value,
            "parent_property" => upload.parent_property = value,
            _ => {}
        }
    }
    Ok(upload)
}

fn or_default(value: String, default: &str) -> String {
    if value.is_empty() {
        default.to_string()
    } else {
        value
    }
}

async fn refused(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    message: String,
    status: StatusCode,
) -> Response {
    page_with(
        state,
        lang,
        staff,
        UnitForm::default(),
        vec![message],
        String::new(),
        status,
    )
    .await
}

/// Checks the file and the scope at once (a bad file is refused on the spot,
/// nothing changed), then imports in the background and shows the progress.
pub async fn import(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    request: Request,
) -> Response {
    // Before reading a large body.
    if !is_admin(&staff) {
        return refuse(&state, lang, &staff);
    }
    let upload = match read_upload(&state, request).await {
        Ok(u) => u,
        Err(e) if e.status == StatusCode::PAYLOAD_TOO_LARGE => {
            let message = lang.tf(
                "admin.error_file_too_large",
                &[("mb", &(GRID_IMPORT_MAX_BYTES / (1024 * 1024)).to_string())],
            );
            return refused(&state, lang, &staff, message, StatusCode::PAYLOAD_TOO_LARGE).await;
        }
        Err(e) => return PageError::from(e).render(&state, lang, Some(&staff)),
    };
    if let Some(refused) = check_post(&state, lang, &staff, &upload.csrf_token) {
        return refused;
    }
    if upload.file.is_empty() {
        return refused(
            &state,
            lang,
            &staff,
            lang.t("admin.error_file_missing").to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let Ok(text) = String::from_utf8(upload.file) else {
        return refused(
            &state,
            lang,
            &staff,
            lang.t("admin.error_file_utf8").to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let mapping = ImportMapping {
        name_property: or_default(upload.name_property, "name"),
        code_property: or_default(upload.code_property, "code"),
        parent_property: Some(or_default(upload.parent_property, "parent")),
        default_parent: (!upload.parent.is_empty()).then_some(upload.parent),
    };
    let features = match parse_feature_collection(&text, &mapping) {
        Ok(f) => f,
        Err(report) => {
            let message = lang.tf("admin.error_geojson", &[("problems", &report.to_string())]);
            return refused(
                &state,
                lang,
                &staff,
                message,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    // Every grid must go under a unit this admin manages.
    let places = state.places();
    let mut outside: Vec<String> = features
        .iter()
        .filter(|f| {
            places
                .unit_by_code(&f.parent_code)
                .is_none_or(|u| !covers(&staff, &places.path(&u.id)))
        })
        .map(|f| f.parent_code.clone())
        .collect();
    outside.sort();
    outside.dedup();
    if !outside.is_empty() {
        let message = lang.tf(
            "admin.error_import_scope",
            &[("codes", &outside.join(", "))],
        );
        return refused(
            &state,
            lang,
            &staff,
            message,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let jobs = state.jobs.clone();
    let id = jobs.start(&staff.actor.user_id);
    let by = change_by(&staff);
    let job_state = state.clone();
    let job_id = id.clone();
    tokio::spawn(async move {
        let progress_jobs = Arc::clone(&job_state.jobs);
        let progress_id = job_id.clone();
        let progress =
            move |done: usize, total: usize| progress_jobs.progress(&progress_id, done, total);
        let result = job_state
            .db
            .import_grids(&text, &mapping, &by, &progress)
            .await;
        match result {
            Ok(n) => {
                if let Err(e) = job_state.reload_places().await {
                    tracing::error!(error = %e, "reloading places after a grid import");
                }
                jobs.finish(&job_id, JobState::Done, n.to_string());
            }
            Err(GridImportError::Rejected(report)) => {
                jobs.finish(&job_id, JobState::Failed, report.to_string());
            }
            Err(GridImportError::Store(e)) => {
                tracing::error!(error = %e, "grid import");
                jobs.finish(&job_id, JobState::Failed, e.to_string());
            }
        }
    });
    see_other(&format!("/admin/jobs/{id}"))
}
