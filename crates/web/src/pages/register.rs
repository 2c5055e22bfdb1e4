//! Registering a case of any type the user may create (登记): the form is
//! the type's creation action as its pack declares it (required and allowed
//! fields, by kind), so a mediation committee registers a dispute, or any
//! later pack its case, without a page of its own. The hotline's richer
//! intake desk stays at `/intake`.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};

use gongzhi_domain::ids::new_id;
use gongzhi_domain::pack::{CaseType, FieldKind};
use gongzhi_domain::time::now_micros;

use crate::intake::{IntakeRequest, intake};
use crate::state::AppState;

use super::case_form::{FieldChoices, FieldInput, def_input};
use super::{Ctx, Lang, PageError, Staff, render, see_other};
use super::{form_fields, form_get};

pub struct TypeLink {
    /// `pack/type`, as the form and the query name it.
    pub id: String,
    /// The link's element id.
    pub anchor: String,
    pub name: String,
    pub current: bool,
}

pub struct TypeForm {
    pub pack: String,
    pub case_type: String,
    pub name: String,
    pub fields: Vec<FieldInput>,
}

#[derive(Template)]
#[template(path = "register.html")]
pub struct RegisterPage {
    pub p: Ctx,
    pub types: Vec<TypeLink>,
    pub form: Option<TypeForm>,
    pub error: String,
    /// Names this filling-in of the form: a second post of it (a double
    /// click, a resend) makes no second case.
    pub form_id: String,
}

#[derive(Deserialize, Default)]
pub struct RegisterQuery {
    #[serde(default, rename = "type")]
    case_type: Option<String>,
}

/// The types whose creation action names a role the user holds somewhere.
pub fn creatable<'a>(state: &'a AppState, staff: &Staff) -> Vec<&'a CaseType> {
    state
        .packs
        .case_types()
        .filter(|t| staff.actor.holds_any(&t.creation_action().roles))
        .collect()
}

/// Whether the user may register any case here (for the nav link).
pub fn registers(state: &AppState, staff: &Staff) -> bool {
    !creatable(state, staff).is_empty()
}

fn type_id(t: &CaseType) -> String {
    format!("{}/{}", t.pack_id, t.id)
}

/// The creation form of `t`, with the values given back after a refusal.
fn type_form(state: &AppState, lang: Lang, t: &CaseType, values: &Map<String, Value>) -> TypeForm {
    let action = t.creation_action();
    let none = FieldChoices::new();
    let fields = action
        .requires
        .iter()
        .chain(&action.allows)
        .filter_map(|k| t.fields.get(k))
        // A person is assigned by an action once the case is registered.
        .filter(|f| !matches!(f.kind, FieldKind::Person { .. }))
        .map(|f| {
            let value = values
                .get(&f.key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            def_input(
                state,
                lang,
                f,
                action.requires.contains(&f.key),
                value,
                &none,
            )
        })
        .collect();
    TypeForm {
        pack: t.pack_id.clone(),
        case_type: t.id.clone(),
        name: lang.pick(&t.name.zh, &t.name.en).to_string(),
        fields,
    }
}

/// What the page shows after a refusal: the type, the values, the message.
struct Refill<'a> {
    values: &'a Map<String, Value>,
    error: String,
    form_id: String,
}

fn page(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    selected: Option<&str>,
    refill: Refill,
) -> RegisterPage {
    let types = creatable(state, staff);
    // One type needs no choosing.
    let chosen = match selected {
        Some(id) => types.iter().find(|t| type_id(t) == id).copied(),
        None if types.len() == 1 => types.first().copied(),
        None => None,
    };
    let links = types
        .iter()
        .map(|t| TypeLink {
            id: type_id(t),
            anchor: format!("type-{}-{}", t.pack_id, t.id),
            name: lang.pick(&t.name.zh, &t.name.en).to_string(),
            current: chosen.is_some_and(|c| type_id(c) == type_id(t)),
        })
        .collect();
    RegisterPage {
        p: Ctx::new(state, lang, Some(staff), "/new"),
        types: links,
        form: chosen.map(|t| type_form(state, lang, t, refill.values)),
        error: refill.error,
        form_id: refill.form_id,
    }
}

pub async fn form(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Query(q): Query<RegisterQuery>,
) -> Response {
    if !registers(&state, &staff) {
        return PageError::Forbidden.render(&state, lang, Some(&staff));
    }
    let refill = Refill {
        values: &Map::new(),
        error: String::new(),
        form_id: new_id(),
    };
    let view = page(&state, lang, &staff, q.case_type.as_deref(), refill);
    render(StatusCode::OK, &view)
}

pub async fn submit(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if !staff.csrf_ok(form_get(&form, "csrf_token")) {
        return PageError::FormExpired.render(&state, lang, Some(&staff));
    }
    let pack = form_get(&form, "pack").unwrap_or_default().to_string();
    let case_type = form_get(&form, "case_type").unwrap_or_default().to_string();
    let selected = format!("{pack}/{case_type}");
    let form_id = form_get(&form, "form_id")
        .filter(|id| !id.is_empty() && id.len() <= 64)
        .map_or_else(new_id, str::to_string);
    if !creatable(&state, &staff)
        .iter()
        .any(|t| type_id(t) == selected)
    {
        return PageError::Forbidden.render(&state, lang, Some(&staff));
    }
    let fields = form_fields(&form);
    let request = IntakeRequest {
        pack,
        case_type,
        fields: fields.clone(),
        reason: None,
        lng: None,
        lat: None,
        acting_unit: None,
        idempotency_key: Some(format!("register:{}:{form_id}", staff.actor.user_id)),
    };
    match intake(&state, &staff.actor, request, now_micros()).await {
        Ok((created, _)) => see_other(&format!("/cases/{}?done=1", created.case_id)),
        Err(e) => {
            let refill = Refill {
                values: &fields,
                error: lang.tf("act_error.other", &[("message", &e.message)]),
                form_id,
            };
            let view = page(&state, lang, &staff, Some(&selected), refill);
            render(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
    }
}
