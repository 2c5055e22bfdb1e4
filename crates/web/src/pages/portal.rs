//! The public portal: submit a request, get its receipt code, look it up by
//! the code and the last four digits of the phone.

use std::net::SocketAddr;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};

use gongzhi_domain::access::Actor;
use gongzhi_domain::role::Role;
use gongzhi_domain::time::now_micros;
use gongzhi_store::StoreError;

use crate::api::public::{find_by_receipt, public_details};
use crate::intake::{IntakeRequest, intake};
use crate::state::AppState;

use super::Staff;
use super::session::MaybeStaff;
use super::{Ctx, Lang, PageError, display_value, render};

/// The system account public submissions are made under.
pub const PORTAL_USER: &str = "public-portal";

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    p: Ctx,
}

pub async fn home(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
) -> Response {
    let p = Ctx::new(&state, lang, staff.as_ref(), "/");
    render(StatusCode::OK, &HomePage { p })
}

pub struct CategoryGroup {
    pub name: String,
    pub options: Vec<Choice>,
}

pub struct Choice {
    pub value: String,
    pub label: String,
}

/// The taxonomy as option groups, one per first-level category.
pub fn category_groups(state: &AppState, lang: Lang) -> Vec<CategoryGroup> {
    let cats = &state.taxonomies.categories;
    let mut groups: Vec<CategoryGroup> = Vec::new();
    let mut all: Vec<_> = cats.iter().collect();
    all.sort_by(|a, b| a.code.cmp(&b.code));
    for c in all {
        let label = format!(
            "{}{} {}",
            "· ".repeat(c.level.saturating_sub(1)),
            c.code,
            lang.pick(&c.name.zh, &c.name.en)
        );
        if c.level <= 1 {
            groups.push(CategoryGroup {
                name: lang.pick(&c.name.zh, &c.name.en).to_string(),
                options: Vec::new(),
            });
        }
        if let Some(g) = groups.last_mut() {
            g.options.push(Choice {
                value: c.code.clone(),
                label,
            });
        }
    }
    groups
}

#[derive(Deserialize, Default)]
pub struct SubmitForm {
    #[serde(default)]
    category: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    lat: String,
    #[serde(default)]
    lng: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_phone: String,
}

#[derive(Template)]
#[template(path = "submit.html")]
struct SubmitPage {
    p: Ctx,
    categories: Vec<CategoryGroup>,
    form: SubmitForm,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "submitted.html")]
struct SubmittedPage {
    p: Ctx,
    receipt_code: String,
}

pub async fn submit_form(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
) -> Response {
    render(
        StatusCode::OK,
        &SubmitPage {
            p: Ctx::new(&state, lang, staff.as_ref(), "/submit"),
            categories: category_groups(&state, lang),
            form: SubmitForm::default(),
            errors: Vec::new(),
        },
    )
}

/// The portal's system account, made on first use: an operator at the top of
/// the unit tree, so every place is within its scope.
async fn portal_actor(state: &AppState) -> Result<Actor, StoreError> {
    if let Some(user) = state.db.user_by_username(PORTAL_USER).await?
        && let Some(actor) = state.db.actor(&user.id).await?
        && !actor.assignments.is_empty()
    {
        return Ok(actor);
    }
    let units = state.db.units().await?;
    let Some(top) = units.iter().find(|u| u.parent_id.is_none()) else {
        return Err(StoreError::NotFound("a top unit for the public portal"));
    };
    let user = match state.db.user_by_username(PORTAL_USER).await? {
        Some(user) => user,
        None => match state.db.create_user(PORTAL_USER, "公众门户", None).await {
            Ok(user) => user,
            // Two first submissions at once: the other one made it.
            Err(e) if e.is_unique_violation() => state
                .db
                .user_by_username(PORTAL_USER)
                .await?
                .ok_or(StoreError::NotFound("the public portal account"))?,
            Err(e) => return Err(e),
        },
    };
    state
        .db
        .grant_role(&user.id, Role::Operator, &top.id)
        .await?;
    state
        .db
        .actor(&user.id)
        .await?
        .ok_or(StoreError::NotFound("the public portal account"))
}

fn parse_coord(text: &str) -> Result<Option<f64>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(Some)
        .ok_or(())
}

pub async fn submit(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
    Form(form): Form<SubmitForm>,
) -> Response {
    let mut errors = Vec::new();
    if form.title.trim().is_empty() {
        errors.push(lang.t("submit.error_title").to_string());
    }
    let digits = form
        .contact_phone
        .chars()
        .filter(char::is_ascii_digit)
        .count();
    if digits < 7 {
        errors.push(lang.t("submit.error_phone").to_string());
    }
    let place = match (parse_coord(&form.lng), parse_coord(&form.lat)) {
        (Ok(Some(lng)), Ok(Some(lat))) => Some((lng, lat)),
        (Ok(None), Ok(None)) => None,
        _ => {
            errors.push(lang.t("submit.error_place").to_string());
            None
        }
    };
    let mut fields = Map::new();
    if errors.is_empty() {
        for (key, value) in [
            ("title", &form.title),
            ("description", &form.description),
            ("category", &form.category),
            ("address", &form.address),
            ("contact_name", &form.contact_name),
            ("contact_phone", &form.contact_phone),
        ] {
            if !value.trim().is_empty() {
                fields.insert(key.into(), Value::String(value.trim().to_string()));
            }
        }
        fields.insert("channel".into(), Value::String("web".into()));
        let created = async {
            let actor = portal_actor(&state).await?;
            let request = IntakeRequest {
                pack: "requests".into(),
                case_type: "request".into(),
                fields,
                lng: place.map(|p| p.0),
                lat: place.map(|p| p.1),
                ..IntakeRequest::default()
            };
            let (created, _) = intake(&state, &actor, request, now_micros()).await?;
            let case = state.db.case_unscoped(&created.case_id).await?;
            Ok::<_, crate::error::ApiError>(case)
        }
        .await;
        match created {
            Ok(Some(case)) => {
                return render(
                    StatusCode::CREATED,
                    &SubmittedPage {
                        p: Ctx::new(&state, lang, staff.as_ref(), "/submit"),
                        receipt_code: case.receipt_code,
                    },
                );
            }
            Ok(None) => return PageError::Internal.render(&state, lang, staff.as_ref()),
            Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
                let label = e
                    .field
                    .as_deref()
                    .and_then(|f| {
                        state
                            .packs
                            .case_type("requests", "request")
                            .and_then(|t| t.fields.get(f))
                    })
                    .map(|d| lang.pick(&d.label.zh, &d.label.en).to_string())
                    .unwrap_or_default();
                errors.push(lang.tf("act_error.invalid_field", &[("field", &label)]));
            }
            Err(e) => return PageError::from(e).render(&state, lang, staff.as_ref()),
        }
    }
    render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &SubmitPage {
            p: Ctx::new(&state, lang, staff.as_ref(), "/submit"),
            categories: category_groups(&state, lang),
            form,
            errors,
        },
    )
}

#[derive(Template)]
#[template(path = "lookup.html")]
struct LookupPage {
    p: Ctx,
    code: String,
    error: Option<&'static str>,
    result: Option<LookupView>,
    /// The proof to send again with a rating (the case waits for one).
    rate: Option<RateProof>,
    notice: Option<&'static str>,
}

pub struct RateProof {
    pub receipt_code: String,
    pub phone_last4: String,
}

pub struct LookupView {
    pub receipt_code: String,
    pub title: String,
    pub state: String,
    pub category: String,
    pub handled_by: String,
    pub created: String,
    pub updated: String,
    pub closed: String,
    pub outcome: String,
    pub timeline: Vec<PublicEntry>,
}

pub struct PublicEntry {
    pub at: String,
    pub action: String,
    pub state: String,
    pub unit: String,
    pub details: Vec<(String, String)>,
}

#[derive(Deserialize)]
pub struct LookupQuery {
    code: Option<String>,
}

pub async fn lookup_form(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
    Query(q): Query<LookupQuery>,
) -> Response {
    render(
        StatusCode::OK,
        &LookupPage {
            p: Ctx::new(&state, lang, staff.as_ref(), "/lookup"),
            code: q.code.unwrap_or_default(),
            error: None,
            result: None,
            rate: None,
            notice: None,
        },
    )
}

#[derive(Deserialize)]
pub struct LookupForm {
    receipt_code: String,
    phone_last4: String,
}

pub async fn lookup(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(form): Form<LookupForm>,
) -> Response {
    show_lookup(&state, lang, staff.as_ref(), addr.ip(), form, None, None).await
}

fn lookup_error(
    state: &AppState,
    lang: Lang,
    staff: Option<&Staff>,
    e: crate::error::ApiError,
    code: String,
) -> Response {
    let p = Ctx::new(state, lang, staff, "/lookup");
    let (status, key) = match e.status {
        StatusCode::NOT_FOUND => (StatusCode::NOT_FOUND, "lookup.not_found"),
        StatusCode::TOO_MANY_REQUESTS => (StatusCode::TOO_MANY_REQUESTS, "lookup.too_many"),
        StatusCode::UNPROCESSABLE_ENTITY => (StatusCode::UNPROCESSABLE_ENTITY, "lookup.invalid"),
        _ => return PageError::from(e).render(state, lang, staff),
    };
    let error = Some(p.t(key));
    render(
        status,
        &LookupPage {
            p,
            code,
            error,
            result: None,
            rate: None,
            notice: None,
        },
    )
}

/// The lookup result for a proven receipt code and phone digits; `case`
/// when the caller has just read it.
async fn show_lookup(
    state: &AppState,
    lang: Lang,
    staff: Option<&Staff>,
    ip: std::net::IpAddr,
    form: LookupForm,
    case: Option<gongzhi_store::CaseRecord>,
    notice: Option<&'static str>,
) -> Response {
    let state = state.clone();
    let p = Ctx::new(&state, lang, staff, "/lookup");
    let found = match case {
        Some(case) => Ok(case),
        None => find_by_receipt(&state, ip, &form.receipt_code, &form.phone_last4).await,
    };
    let case = match found {
        Ok(case) => case,
        Err(e) => return lookup_error(&state, lang, staff, e, form.receipt_code),
    };
    let entries = match state.db.timeline(&case.id).await {
        Ok(entries) => entries,
        Err(e) => return PageError::from(e).render(&state, lang, staff),
    };
    let case_type = state.packs.case_type(&case.pack, &case.case_type);
    let state_name = |s: &str| {
        case_type
            .and_then(|t| t.states.get(s))
            .map(|d| lang.pick(&d.name.zh, &d.name.en).to_string())
            .unwrap_or_else(|| s.to_string())
    };
    let places = state.places();
    let unit_name = |id: Option<&str>| {
        id.and_then(|id| places.unit(id))
            .map(|u| u.name.clone())
            .unwrap_or_default()
    };
    let field_text = |key: &str, value: &Value| match case_type.and_then(|t| t.fields.get(key)) {
        Some(def) => (
            lang.pick(&def.label.zh, &def.label.en).to_string(),
            display_value(&state, lang, def, value),
        ),
        None => (key.to_string(), String::new()),
    };
    let timeline = entries
        .iter()
        .filter_map(|e| {
            let action = case_type.and_then(|t| t.actions.get(&e.action))?;
            Some(PublicEntry {
                at: p.datetime(e.at),
                action: lang.pick(&action.name.zh, &action.name.en).to_string(),
                state: state_name(&e.to_state),
                // The unit that acted, never the person.
                unit: unit_name(e.actor_unit_id.as_deref()),
                details: public_details(&e.changes)
                    .iter()
                    .map(|(k, v)| field_text(k, v))
                    .collect(),
            })
        })
        .collect();
    let result = LookupView {
        receipt_code: case.receipt_code.clone(),
        title: case
            .fields
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        state: state_name(&case.state),
        category: case
            .fields
            .get("category")
            .and_then(Value::as_str)
            .and_then(|c| state.taxonomies.categories.get(c))
            .map(|c| lang.pick(&c.name.zh, &c.name.en).to_string())
            .unwrap_or_default(),
        handled_by: unit_name(Some(&case.holder_unit_id)),
        created: p.datetime(case.created_at),
        updated: p.datetime(case.updated_at),
        closed: p.opt_datetime(&case.closed_at),
        outcome: case
            .fields
            .get("outcome")
            .map(|v| field_text("outcome", v).1)
            .unwrap_or_default(),
        timeline,
    };
    let rate = (case.state == RATE_FROM_STATE).then(|| RateProof {
        receipt_code: case.receipt_code.clone(),
        phone_last4: form.phone_last4.trim().to_string(),
    });
    render(
        StatusCode::OK,
        &LookupPage {
            p,
            code: result.receipt_code.clone(),
            error: None,
            result: Some(result),
            rate,
            notice,
        },
    )
}

/// The state in which the caller may rate the outcome, and the pack's action.
const RATE_FROM_STATE: &str = "reported";
const RATE_ACTION: &str = "follow_up";

#[derive(Deserialize)]
pub struct RateForm {
    receipt_code: String,
    phone_last4: String,
    #[serde(default)]
    satisfaction: String,
}

/// The caller rates the outcome: the receipt code and phone digits are proven
/// again (under the lookup limiter), then the pack's follow-up is recorded as
/// the portal's system account.
pub async fn rate(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(form): Form<RateForm>,
) -> Response {
    let staff = staff.as_ref();
    let case = match find_by_receipt(&state, addr.ip(), &form.receipt_code, &form.phone_last4).await
    {
        Ok(case) => case,
        Err(e) => return lookup_error(&state, lang, staff, e, form.receipt_code),
    };
    let lookup = LookupForm {
        receipt_code: form.receipt_code,
        phone_last4: form.phone_last4,
    };
    let valid = matches!(
        form.satisfaction.as_str(),
        "satisfied" | "basically_satisfied" | "unsatisfied"
    );
    if case.state != RATE_FROM_STATE || !valid {
        let notice = Some(lang.t("rate.not_now"));
        return show_lookup(&state, lang, staff, addr.ip(), lookup, Some(case), notice).await;
    }
    let acted = async {
        let actor = portal_actor(&state).await?;
        let mut fields = Map::new();
        fields.insert("satisfaction".into(), Value::String(form.satisfaction));
        let request = gongzhi_domain::engine::ActionRequest {
            action: RATE_ACTION.into(),
            fields,
            reason: None,
            target_unit: None,
        };
        state
            .db
            .act(
                state.rules(),
                &actor,
                &case.id,
                request,
                Some(case.version),
                now_micros(),
            )
            .await
            .map_err(crate::error::ApiError::from)?;
        let case = state
            .db
            .case_unscoped(&case.id)
            .await?
            .ok_or_else(crate::error::ApiError::internal)?;
        Ok::<_, crate::error::ApiError>(case)
    }
    .await;
    match acted {
        Ok(case) => {
            let notice = Some(lang.t("rate.thanks"));
            show_lookup(&state, lang, staff, addr.ip(), lookup, Some(case), notice).await
        }
        Err(e) if e.status.is_client_error() => {
            let notice = Some(lang.t("rate.not_now"));
            show_lookup(&state, lang, staff, addr.ip(), lookup, None, notice).await
        }
        Err(e) => PageError::from(e).render(&state, lang, staff),
    }
}
