//! The public portal: submit a request, get its receipt code, look it up by
//! the code and the last four digits of the phone.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::{Map, Value};

use gongzhi_domain::access::Actor;
use gongzhi_domain::pack::{CaseType, IntakeChannel, IntakeValues};
use gongzhi_domain::time::now_micros;
use gongzhi_store::{PartyRecord, StoreError};

use crate::api::attachments::prepare_file;
use crate::api::grid::attach_new_files;
use crate::api::public::{find_by_receipt_as, public_details};
use crate::intake::{Collected, IntakeRequest, channel_request, intake};
use crate::state::{AppState, ServerConfig};
use gongzhi_domain::ids::new_id;

use super::Staff;
use super::choices::{CategoryGroup, Choice, category_groups};
use super::form_token::{FORM_FIELD, FormToken};
use super::multipart::{form_value, read_multipart_form};
use super::party_view::{
    PartyAddForm, PublicRecord, party_add_forms, party_role_name, public_records,
};
use super::picker::PlacePicker;
use super::session::MaybeStaff;
use super::{Ctx, Lang, PageError, display_value, render};

/// The system account public submissions are made under.
pub const PORTAL_USER: &str = "public-portal";
/// The case type the public portal takes requests in as.
fn portal_type(state: &AppState) -> Option<&CaseType> {
    state.packs.intake_type(IntakeChannel::Web)
}

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

/// The submit form's text fields, kept to show the form again on an error.
#[derive(Default)]
pub struct SubmitForm {
    client_key: String,
    category: String,
    title: String,
    description: String,
    address: String,
    lat: String,
    lng: String,
    contact_name: String,
    contact_phone: String,
}

/// Photos a citizen may send with a request.
pub const MAX_PUBLIC_PHOTOS: usize = 3;

#[derive(Template)]
#[template(path = "submit.html")]
struct SubmitPage {
    p: Ctx,
    categories: Vec<CategoryGroup>,
    form: SubmitForm,
    errors: Vec<String>,
    form_token: String,
    picker: PlacePicker,
    photos_label: String,
}

#[derive(Template)]
#[template(path = "submitted.html")]
struct SubmittedPage {
    p: Ctx,
    receipt_code: String,
    photos_text: String,
}

fn submit_page(
    state: &AppState,
    lang: Lang,
    staff: Option<&Staff>,
    token: &FormToken,
    form: SubmitForm,
    errors: Vec<String>,
) -> SubmitPage {
    let picker = PlacePicker::new(state, lang, &form.lat, &form.lng);
    SubmitPage {
        p: Ctx::new(state, lang, staff, "/submit"),
        categories: category_groups(state, lang),
        form,
        errors,
        form_token: token.value().to_string(),
        picker,
        photos_label: lang.tf("submit.photos", &[("max", &MAX_PUBLIC_PHOTOS.to_string())]),
    }
}

pub async fn submit_form(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
    token: FormToken,
) -> Response {
    let form = SubmitForm {
        client_key: new_id(),
        ..SubmitForm::default()
    };
    let page = submit_page(&state, lang, staff.as_ref(), &token, form, Vec::new());
    token.set_on(render(StatusCode::OK, &page), state.config.secure_cookies)
}

/// The portal's system account, made on first use: an operator at the top of
/// the unit tree, so every place is within its scope.
pub(super) async fn portal_actor(state: &AppState) -> Result<Actor, StoreError> {
    if let Some(user) = state.db.user_by_username(PORTAL_USER).await?
        && let Some(actor) = state.actor(&user.id).await?
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
    let role = portal_type(state)
        .and_then(|t| t.intake_role())
        .ok_or(StoreError::NotFound("the portal's case type"))?;
    state.db.grant_role(&user.id, role, &top.id).await?;
    state
        .actor(&user.id)
        .await?
        .ok_or(StoreError::NotFound("the public portal account"))
}

fn parse_coord(text: &str, min: f64, max: f64) -> Result<Option<f64>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && (min..=max).contains(v))
        .map(Some)
        .ok_or(())
}

/// The portal's submit route, with a body limit sized for its photos.
pub fn upload_routes(config: &ServerConfig) -> Router<AppState> {
    Router::new().route(
        "/submit",
        get(submit_form).post(submit.layer(DefaultBodyLimit::max(
            config.upload_body_limit().saturating_mul(MAX_PUBLIC_PHOTOS),
        ))),
    )
}

pub async fn submit(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
    token: FormToken,
    request: Request,
) -> Response {
    let staff = staff.as_ref();
    let secure = state.config.secure_cookies;
    let (text, photos) = match read_multipart_form(&state, request).await {
        Ok(read) => read,
        Err(e) if e.status == StatusCode::PAYLOAD_TOO_LARGE => {
            let form = SubmitForm {
                client_key: new_id(),
                ..SubmitForm::default()
            };
            let errors = vec![lang.t("grid.error_too_large").to_string()];
            let page = submit_page(&state, lang, staff, &token, form, errors);
            return token.set_on(render(StatusCode::PAYLOAD_TOO_LARGE, &page), secure);
        }
        Err(e) if e.status.is_client_error() => {
            let form = SubmitForm {
                client_key: new_id(),
                ..SubmitForm::default()
            };
            let errors = vec![lang.tf("act_error.other", &[("message", &e.message)])];
            let page = submit_page(&state, lang, staff, &token, form, errors);
            return token.set_on(render(StatusCode::UNPROCESSABLE_ENTITY, &page), secure);
        }
        Err(e) => return PageError::from(e).render(&state, lang, staff),
    };
    // The form's inputs carry the engine's names for what it collects.
    let form_input = |name: &str| form_value(&text, name).trim().to_string();
    let mut form = SubmitForm {
        client_key: form_input("client_key"),
        category: form_input("category"),
        title: form_input("title"),
        description: form_input("description"),
        address: form_input("address"),
        lat: form_input("lat"),
        lng: form_input("lng"),
        contact_name: form_input("contact_name"),
        contact_phone: form_input("contact_phone"),
    };
    let mut errors = Vec::new();
    if !token.matches(Some(form_value(&text, FORM_FIELD))) {
        errors.push(lang.t("act_error.csrf_failed").to_string());
        let page = submit_page(&state, lang, staff, &token, form, errors);
        return token.set_on(render(StatusCode::FORBIDDEN, &page), secure);
    }
    if form.client_key.is_empty() || form.client_key.len() > 64 {
        form.client_key = new_id();
    }
    if form.title.is_empty() {
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
    let place = match (
        parse_coord(&form.lng, -180.0, 180.0),
        parse_coord(&form.lat, -90.0, 90.0),
    ) {
        (Ok(Some(lng)), Ok(Some(lat))) => Some((lng, lat)),
        (Ok(None), Ok(None)) => None,
        _ => {
            errors.push(lang.t("submit.error_place").to_string());
            None
        }
    };
    if photos.len() > MAX_PUBLIC_PHOTOS {
        errors.push(lang.tf(
            "submit.error_photos",
            &[("max", &MAX_PUBLIC_PHOTOS.to_string())],
        ));
    }
    if errors.is_empty() {
        let created = async {
            // Every photo is checked before the request exists, so a bad one
            // never leaves a request half made.
            let mut prepared = Vec::with_capacity(photos.len());
            for (bytes, name) in photos {
                prepared.push(prepare_file(&state, "photo", bytes, &name).await?);
            }
            let actor = portal_actor(&state).await?;
            let collected = Collected {
                title: &form.title,
                category: Some(&form.category),
                parts: IntakeValues {
                    description: Some(&form.description),
                    address: Some(&form.address),
                    contact_name: Some(&form.contact_name),
                    contact_phone: Some(&form.contact_phone),
                    source_ref: None,
                },
            };
            let request = IntakeRequest {
                lng: place.map(|p| p.0),
                lat: place.map(|p| p.1),
                // A second click or a resent form finds the first request.
                idempotency_key: Some(format!("portal:{}", form.client_key)),
                ..channel_request(&state.packs, IntakeChannel::Web, collected)?
            };
            let at = now_micros();
            let (created, _) = intake(&state, &actor, request, at).await?;
            let attached = attach_new_files(&state, &actor, &created.case_id, prepared, at).await?;
            let case = state.db.case_unscoped(&created.case_id).await?;
            Ok::<_, crate::error::ApiError>((case, attached.len()))
        }
        .await;
        match created {
            Ok((Some(case), photos)) => {
                return render(
                    StatusCode::CREATED,
                    &SubmittedPage {
                        p: Ctx::new(&state, lang, staff, "/submit"),
                        receipt_code: case.receipt_code,
                        photos_text: if photos > 0 {
                            lang.tf("submit.photos_received", &[("n", &photos.to_string())])
                        } else {
                            String::new()
                        },
                    },
                );
            }
            Ok((None, _)) => return PageError::Internal.render(&state, lang, staff),
            Err(e) if e.status == StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                errors.push(lang.t("grid.error_photo_type").to_string());
            }
            Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
                let label = e
                    .field
                    .as_deref()
                    .and_then(|f| portal_type(&state).and_then(|t| t.fields.get(f)))
                    .map(|d| lang.pick(&d.label.zh, &d.label.en).to_string())
                    .unwrap_or_default();
                errors.push(lang.tf("act_error.invalid_field", &[("field", &label)]));
            }
            Err(e) => return PageError::from(e).render(&state, lang, staff),
        }
    }
    let page = submit_page(&state, lang, staff, &token, form, errors);
    render(StatusCode::UNPROCESSABLE_ENTITY, &page)
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
    form_token: String,
}

pub struct RateProof {
    pub receipt_code: String,
    pub phone_last4: String,
    /// The rating's values, from the pack.
    pub options: Vec<Choice>,
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
    /// Who looks, when it is a party of the case (empty otherwise).
    pub you_are: String,
    /// The records the party may see and act on.
    pub records: Vec<PublicRecord>,
    /// The records the party may add (evidence for the exchange).
    pub adds: Vec<PartyAddForm>,
    /// The proof sent again with a party's action.
    pub phone_last4: String,
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
    token: FormToken,
    Query(q): Query<LookupQuery>,
) -> Response {
    let page = render(
        StatusCode::OK,
        &LookupPage {
            p: Ctx::new(&state, lang, staff.as_ref(), "/lookup"),
            code: q.code.unwrap_or_default(),
            error: None,
            result: None,
            rate: None,
            notice: None,
            form_token: token.value().to_string(),
        },
    );
    token.set_on(page, state.config.secure_cookies)
}

#[derive(Deserialize)]
pub struct LookupForm {
    pub(super) receipt_code: String,
    pub(super) phone_last4: String,
    pub(super) form_token: Option<String>,
}

pub async fn lookup(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    token: FormToken,
    Form(form): Form<LookupForm>,
) -> Response {
    let staff = staff.as_ref();
    if !token.matches(form.form_token.as_deref()) {
        return forged(&state, lang, staff, &token, form.receipt_code);
    }
    show_lookup(&state, lang, staff, &token, addr.ip(), form, None, None).await
}

/// A lookup or rating posted without this browser's form token: the form
/// again (with a token), and nothing looked up or recorded.
pub(super) fn forged(
    state: &AppState,
    lang: Lang,
    staff: Option<&Staff>,
    token: &FormToken,
    code: String,
) -> Response {
    let page = render(
        StatusCode::FORBIDDEN,
        &LookupPage {
            p: Ctx::new(state, lang, staff, "/lookup"),
            code,
            error: Some(lang.t("act_error.csrf_failed")),
            result: None,
            rate: None,
            notice: None,
            form_token: token.value().to_string(),
        },
    );
    token.set_on(page, state.config.secure_cookies)
}

pub(super) fn lookup_error(
    state: &AppState,
    lang: Lang,
    staff: Option<&Staff>,
    token: &FormToken,
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
            form_token: token.value().to_string(),
        },
    )
}

/// The lookup result for a proven receipt code and phone digits; `found`
/// (the case, and the party who looks) when the caller has just read it.
#[allow(clippy::too_many_arguments)]
pub(super) async fn show_lookup(
    state: &AppState,
    lang: Lang,
    staff: Option<&Staff>,
    token: &FormToken,
    ip: std::net::IpAddr,
    form: LookupForm,
    found: Option<(gongzhi_store::CaseRecord, Option<PartyRecord>)>,
    notice: Option<&'static str>,
) -> Response {
    let state = state.clone();
    let p = Ctx::new(&state, lang, staff, "/lookup");
    let found = match found {
        Some(found) => Ok(found),
        None => find_by_receipt_as(&state, ip, &form.receipt_code, &form.phone_last4).await,
    };
    let (case, party) = match found {
        Ok(found) => found,
        Err(e) => return lookup_error(&state, lang, staff, token, e, form.receipt_code),
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
                details: public_details(case_type, &e.changes)
                    .iter()
                    .map(|(k, v)| field_text(k, v))
                    .collect(),
            })
        })
        .collect();
    let result = LookupView {
        receipt_code: case.receipt_code.clone(),
        title: state
            .packs
            .title_of(&case.pack, &case.case_type, &case.fields)
            .to_string(),
        state: state_name(&case.state),
        category: state
            .packs
            .category_of(&case.pack, &case.case_type, &case.fields)
            .and_then(|c| {
                state
                    .taxonomies()
                    .categories
                    .get(c)
                    .map(|c| lang.pick(&c.name.zh, &c.name.en).to_string())
            })
            .unwrap_or_default(),
        handled_by: unit_name(Some(&case.holder_unit_id)),
        created: p.datetime(case.created_at),
        updated: p.datetime(case.updated_at),
        closed: p.opt_datetime(&case.closed_at),
        outcome: case_type
            .and_then(|t| t.bindings.outcome.as_deref())
            .and_then(|key| Some(field_text(key, case.fields.get(key)?).1))
            .unwrap_or_default(),
        timeline,
        you_are: party
            .as_ref()
            .map(|party| {
                let role = party_role_name(lang, case_type, party);
                lang.tf("party_portal.you_are", &[("role", &role)])
            })
            .unwrap_or_default(),
        records: match public_records(&state, lang, case_type, &case, party.as_ref()).await {
            Ok(records) => records,
            Err(e) => return PageError::from(e).render(&state, lang, staff),
        },
        adds: party_add_forms(lang, case_type, party.as_ref()),
        phone_last4: form.phone_last4.trim().to_string(),
    };
    let rate = rating_now(&state, &case).map(|_| RateProof {
        receipt_code: case.receipt_code.clone(),
        phone_last4: form.phone_last4.trim().to_string(),
        options: rating_options(&state, lang, &case),
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
            form_token: token.value().to_string(),
        },
    )
}

/// The case type's bound rating, when the case may be rated now.
fn rating_now<'a>(
    state: &'a AppState,
    case: &gongzhi_store::CaseRecord,
) -> Option<&'a gongzhi_domain::pack::RatingBinding> {
    let t = state.packs.case_type(&case.pack, &case.case_type)?;
    let action = t.rating_action()?;
    action
        .from
        .iter()
        .any(|s| s == &case.state)
        .then_some(t.bindings.rating.as_ref())
        .flatten()
}

/// The rating field's options, in the reader's language.
fn rating_options(state: &AppState, lang: Lang, case: &gongzhi_store::CaseRecord) -> Vec<Choice> {
    let Some(t) = state.packs.case_type(&case.pack, &case.case_type) else {
        return Vec::new();
    };
    let options = t
        .bindings
        .rating
        .as_ref()
        .and_then(|r| t.fields.get(&r.field))
        .map(|f| match &f.kind {
            gongzhi_domain::pack::FieldKind::Choice { options } => options.as_slice(),
            _ => &[],
        })
        .unwrap_or_default();
    options
        .iter()
        .map(|o| Choice {
            value: o.value.clone(),
            label: lang.pick(&o.name.zh, &o.name.en).to_string(),
        })
        .collect()
}

#[derive(Deserialize)]
pub struct RateForm {
    receipt_code: String,
    phone_last4: String,
    #[serde(default)]
    satisfaction: String,
    form_token: Option<String>,
}

/// The caller rates the outcome: the receipt code and phone digits are proven
/// again (under the lookup limiter), then the pack's follow-up is recorded as
/// the portal's system account.
pub async fn rate(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    token: FormToken,
    Form(form): Form<RateForm>,
) -> Response {
    let staff = staff.as_ref();
    if !token.matches(form.form_token.as_deref()) {
        return forged(&state, lang, staff, &token, form.receipt_code);
    }
    let (case, party) =
        match find_by_receipt_as(&state, addr.ip(), &form.receipt_code, &form.phone_last4).await {
            Ok(found) => found,
            Err(e) => return lookup_error(&state, lang, staff, &token, e, form.receipt_code),
        };
    let lookup = LookupForm {
        receipt_code: form.receipt_code,
        phone_last4: form.phone_last4,
        form_token: None,
    };
    let rating = rating_now(&state, &case).filter(|_| {
        rating_options(&state, lang, &case)
            .iter()
            .any(|o| o.value == form.satisfaction)
    });
    let Some(rating) = rating.cloned() else {
        let notice = Some(lang.t("rate.not_now"));
        return show_lookup(
            &state,
            lang,
            staff,
            &token,
            addr.ip(),
            lookup,
            Some((case, party)),
            notice,
        )
        .await;
    };
    let acted = async {
        let actor = portal_actor(&state).await?;
        let mut fields = Map::new();
        fields.insert(rating.field, Value::String(form.satisfaction));
        let request = gongzhi_domain::engine::ActionRequest {
            action: rating.action,
            fields,
            reason: None,
            target_unit: None,
        };
        state
            .db
            .act(
                state.rules(&state.taxonomies()),
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
            show_lookup(
                &state,
                lang,
                staff,
                &token,
                addr.ip(),
                lookup,
                Some((case, party)),
                notice,
            )
            .await
        }
        Err(e) if e.status.is_client_error() => {
            let notice = Some(lang.t("rate.not_now"));
            show_lookup(&state, lang, staff, &token, addr.ip(), lookup, None, notice).await
        }
        Err(e) => PageError::from(e).render(&state, lang, staff),
    }
}
