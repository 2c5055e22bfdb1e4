//! The grid worker's phone page: report an event with photos, and verify the
//! cases in their grid that are waiting for it.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Map, Value};

use gongzhi_domain::engine::ActionRequest;
use gongzhi_domain::ids::new_id;
use gongzhi_domain::pack::FieldKind;
use gongzhi_domain::time::now_micros;
use gongzhi_store::CaseFilter;

use crate::api::grid::{GridReport, MAX_PHOTOS, file_report};
use crate::error::ApiError;
use crate::state::{AppState, ServerConfig};

use super::choices::{CategoryGroup, Choice, category_groups};
use super::multipart::{form_value, read_multipart_form};
use super::{Ctx, Lang, PageError, Staff, render, see_other};

/// The report form's route, with a body limit sized for its photos.
pub fn upload_routes(config: &ServerConfig) -> Router<AppState> {
    Router::new().route(
        "/grid/report",
        post(report.layer(DefaultBodyLimit::max(
            config.upload_body_limit().saturating_mul(MAX_PHOTOS),
        ))),
    )
}

#[derive(Default)]
pub struct ReportForm {
    pub client_key: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub address: String,
    pub lat: String,
    pub lng: String,
}

pub struct Task {
    pub id: String,
    pub receipt_code: String,
    pub title: String,
    pub address: String,
    pub outcome: String,
    pub version: i64,
    /// The verification field's options, from the case's pack.
    pub options: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "grid.html")]
struct GridPage {
    p: Ctx,
    form: ReportForm,
    categories: Vec<CategoryGroup>,
    errors: Vec<String>,
    reported: String,
    verified: bool,
    tasks: Vec<Task>,
    photos_label: String,
}

#[derive(Deserialize, Default)]
pub struct GridQuery {
    reported: Option<String>,
    verified: Option<String>,
}

pub fn is_grid_worker(state: &AppState, staff: &Staff) -> bool {
    staff.actor.holds_any(&state.packs.roles_at("grid"))
}

/// The options of a type's bound verification field, in the reader's language.
fn verification_options(state: &AppState, lang: Lang, pack: &str, case_type: &str) -> Vec<Choice> {
    let Some(t) = state.packs.case_type(pack, case_type) else {
        return Vec::new();
    };
    let field = t
        .bindings
        .verification
        .as_ref()
        .and_then(|v| t.fields.get(&v.field));
    match field.map(|f| &f.kind) {
        Some(FieldKind::Choice { options }) => options
            .iter()
            .map(|o| Choice {
                value: o.value.clone(),
                label: lang.pick(&o.name.zh, &o.name.en).to_string(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Most cases listed for verification at once.
const TASK_ROWS: i64 = 100;

async fn tasks(state: &AppState, lang: Lang, staff: &Staff) -> Result<Vec<Task>, PageError> {
    // Cases waiting for the on-site check: in a state the packs' bound
    // verification action starts from.
    let mut waiting: Vec<&str> = Vec::new();
    for t in state.packs.case_types() {
        for from in t.verification_action().map_or(&[][..], |a| &a.from[..]) {
            if !waiting.contains(&from.as_str()) {
                waiting.push(from);
            }
        }
    }
    let mut cases = Vec::new();
    for st in waiting {
        let filter = CaseFilter {
            state: Some(st.to_string()),
            open_only: true,
            limit: TASK_ROWS,
            ..CaseFilter::default()
        };
        cases.extend(state.db.cases_for(&staff.actor, &filter).await?);
    }
    cases.truncate(TASK_ROWS as usize);
    let text = |fields: &Map<String, Value>, key: &str| {
        fields
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(cases
        .iter()
        .map(|c| {
            let t = state.packs.case_type(&c.pack, &c.case_type);
            let bound = |key: Option<&str>| key.map(|k| text(&c.fields, k)).unwrap_or_default();
            (c, t, bound)
        })
        .map(|(c, t, bound)| Task {
            id: c.id.clone(),
            receipt_code: c.receipt_code.clone(),
            title: bound(t.and_then(|t| t.bindings.title.as_deref())),
            address: bound(
                t.and_then(|t| t.bindings.intake.as_ref())
                    .and_then(|i| i.address.as_deref()),
            ),
            outcome: bound(t.and_then(|t| t.bindings.result_text.as_deref())),
            version: c.version,
            options: verification_options(state, lang, &c.pack, &c.case_type),
        })
        .collect())
}

async fn page_with(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    form: ReportForm,
    errors: Vec<String>,
    q: GridQuery,
) -> Result<GridPage, PageError> {
    Ok(GridPage {
        p: Ctx::new(state, lang, Some(staff), "/grid"),
        categories: category_groups(state, lang),
        form,
        errors,
        reported: q
            .reported
            .map(|code| lang.tf("grid.reported", &[("code", &code)]))
            .unwrap_or_default(),
        verified: q.verified.is_some(),
        tasks: tasks(state, lang, staff).await?,
        photos_label: lang.tf("grid.photos", &[("n", &MAX_PHOTOS.to_string())]),
    })
}

pub async fn page(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Query(q): Query<GridQuery>,
) -> Response {
    if !is_grid_worker(&state, &staff) {
        return PageError::Forbidden.render(&state, lang, Some(&staff));
    }
    // A fresh key per form: submitting it twice files one report.
    let form = ReportForm {
        client_key: new_id(),
        ..ReportForm::default()
    };
    match page_with(&state, lang, &staff, form, Vec::new(), q).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => e.render(&state, lang, Some(&staff)),
    }
}

fn parse_coord(text: &str, min: f64, max: f64) -> Option<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && (min..=max).contains(v))
}

pub async fn report(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    request: Request,
) -> Response {
    let (text, photos) = match read_multipart_form(&state, request).await {
        Ok(read) => read,
        Err(e) if e.status == StatusCode::PAYLOAD_TOO_LARGE => {
            let form = ReportForm {
                client_key: new_id(),
                ..ReportForm::default()
            };
            let errors = vec![lang.t("grid.error_too_large").to_string()];
            return match page_with(&state, lang, &staff, form, errors, GridQuery::default()).await {
                Ok(page) => render(StatusCode::PAYLOAD_TOO_LARGE, &page),
                Err(e) => e.render(&state, lang, Some(&staff)),
            };
        }
        Err(e) => return PageError::from(e).render(&state, lang, Some(&staff)),
    };
    if !staff.csrf_ok(Some(form_value(&text, "csrf_token"))) {
        return PageError::FormExpired.render(&state, lang, Some(&staff));
    }
    if !is_grid_worker(&state, &staff) {
        return PageError::Forbidden.render(&state, lang, Some(&staff));
    }
    let form = ReportForm {
        client_key: form_value(&text, "client_key").to_string(),
        title: form_value(&text, "title").trim().to_string(),
        description: form_value(&text, "description").trim().to_string(),
        category: form_value(&text, "category").trim().to_string(),
        address: form_value(&text, "address").trim().to_string(),
        lat: form_value(&text, "lat").trim().to_string(),
        lng: form_value(&text, "lng").trim().to_string(),
    };
    let mut errors = Vec::new();
    if form.title.is_empty() {
        errors.push(lang.t("submit.error_title").to_string());
    }
    let place = match (
        parse_coord(&form.lng, -180.0, 180.0),
        parse_coord(&form.lat, -90.0, 90.0),
    ) {
        (Some(lng), Some(lat)) => Some((lng, lat)),
        _ => {
            errors.push(lang.t("grid.error_place").to_string());
            None
        }
    };
    if photos.len() > MAX_PHOTOS {
        errors.push(lang.t("grid.error_photos").to_string());
    }
    if let (true, Some((lng, lat))) = (errors.is_empty(), place) {
        let non_empty = |v: &str| (!v.is_empty()).then(|| v.to_string());
        let report = GridReport {
            client_key: form.client_key.clone(),
            title: form.title.clone(),
            description: non_empty(&form.description),
            category: non_empty(&form.category),
            address: non_empty(&form.address),
            lng,
            lat,
        };
        match file_report(&state, &staff.actor, report, photos).await {
            Ok(filed) => {
                return see_other(&format!("/grid?reported={}", filed.case.receipt_code));
            }
            Err(e) if e.status == StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                errors.push(lang.t("grid.error_photo_type").to_string());
            }
            Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
                errors.push(lang.tf("act_error.other", &[("message", &e.message)]));
            }
            Err(e) => return PageError::from(e).render(&state, lang, Some(&staff)),
        }
    }
    match page_with(&state, lang, &staff, form, errors, GridQuery::default()).await {
        Ok(page) => render(StatusCode::UNPROCESSABLE_ENTITY, &page),
        Err(e) => e.render(&state, lang, Some(&staff)),
    }
}

#[derive(Deserialize, Default)]
pub struct VerifyForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    verification: String,
    #[serde(default)]
    verify_note: String,
    #[serde(default)]
    version: Option<i64>,
}

pub async fn verify(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<VerifyForm>,
) -> Response {
    if !staff.csrf_ok(Some(&form.csrf_token)) {
        return PageError::FormExpired.render(&state, lang, Some(&staff));
    }
    if !is_grid_worker(&state, &staff) {
        return PageError::Forbidden.render(&state, lang, Some(&staff));
    }
    let case = match state.db.case_for(&staff.actor, &id).await {
        Ok(Some(case)) => case,
        Ok(None) => return PageError::NotFound.render(&state, lang, Some(&staff)),
        Err(e) => return PageError::from(e).render(&state, lang, Some(&staff)),
    };
    let Some(binding) = state
        .packs
        .case_type(&case.pack, &case.case_type)
        .and_then(|t| t.bindings.verification.clone())
    else {
        return PageError::NotFound.render(&state, lang, Some(&staff));
    };
    let mut fields = Map::new();
    // The engine checks the value against the field's options.
    if !form.verification.is_empty() {
        fields.insert(binding.field.clone(), Value::String(form.verification));
    }
    let note = form.verify_note.trim();
    if let Some(key) = &binding.note
        && !note.is_empty()
    {
        fields.insert(key.clone(), Value::String(note.to_string()));
    }
    let request = ActionRequest {
        action: binding.action,
        fields,
        reason: None,
        target_unit: None,
    };
    let acted = state
        .db
        .act(
            state.rules(&state.taxonomies()),
            &staff.actor,
            &case.id,
            request,
            form.version,
            now_micros(),
        )
        .await;
    match acted {
        Ok(_) => see_other("/grid?verified=1"),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_server_error() || e.status == StatusCode::FORBIDDEN {
                return PageError::from(e).render(&state, lang, Some(&staff));
            }
            let form = ReportForm {
                client_key: new_id(),
                ..ReportForm::default()
            };
            let errors = vec![lang.t("grid.error_verify").to_string()];
            match page_with(&state, lang, &staff, form, errors, GridQuery::default()).await {
                Ok(page) => render(StatusCode::UNPROCESSABLE_ENTITY, &page),
                Err(e) => e.render(&state, lang, Some(&staff)),
            }
        }
    }
}
