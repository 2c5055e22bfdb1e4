//! The case page: fields (personal data masked), deadlines, the timeline from
//! the log, attachments, and a form for each action the user may take now.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use gongzhi_domain::conflict::Conflict;
use gongzhi_domain::engine::ActionRequest;
use gongzhi_domain::pack::{ActionDef, CaseType, FieldKind, ReasonRule, TargetRule};
use gongzhi_domain::time::now_micros;
use gongzhi_domain::unit::UnitKind;
use gongzhi_store::CaseRecord;

use crate::api::cases::{Revealed, mask, may_reveal, reveal_personal};
use crate::error::ApiError;
use crate::state::AppState;

use super::case_form::{FieldChoices, FieldInput, def_input, names, posted_case, visible};
use super::case_parties::{PartyForm, PartyRow, party_form, party_rows};
use super::choices::Choice;
use super::form_get;
use super::{Ctx, Lang, PageError, Staff, display_value, render, see_other, time_left};

pub struct ActionForm {
    pub id: String,
    pub name: String,
    pub fields: Vec<FieldInput>,
    /// `required` or `optional`.
    pub reason: &'static str,
    pub reason_value: String,
    pub target: bool,
    pub target_value: String,
    pub error: Option<String>,
}

pub struct DeadlineRow {
    pub state: String,
    pub due: String,
    pub left: String,
    pub overdue: bool,
    pub status: String,
}

pub struct TimelineRow {
    pub at: String,
    pub action: String,
    pub to: String,
    pub actor: String,
    pub unit: String,
    pub reason: String,
    pub changes: Vec<(String, String)>,
}

pub struct AttachmentRow {
    pub id: String,
    pub name: String,
    pub media_type: String,
    pub size: String,
}

#[derive(Template)]
#[template(path = "case.html")]
pub(super) struct CasePage {
    p: Ctx,
    id: String,
    receipt_code: String,
    title: String,
    state_name: String,
    holder: String,
    area: String,
    created: String,
    version: i64,
    fields: Vec<(String, String)>,
    personal: Vec<(String, String)>,
    revealed: bool,
    can_reveal: bool,
    suggested: String,
    route_reason: String,
    deadlines: Vec<DeadlineRow>,
    timeline: Vec<TimelineRow>,
    attachments: Vec<AttachmentRow>,
    actions: Vec<ActionForm>,
    units: Vec<Choice>,
    notice: Option<&'static str>,
    /// People on the case a party's conflict of interest now bars.
    step_aside: Vec<String>,
    assist_rows: Vec<super::assists::AssistRow>,
    links: Vec<super::case_links::LinkRow>,
    parties: Vec<PartyRow>,
    /// The form to add a party, for users whose roles manage them.
    party_form: Option<PartyForm>,
    link_kinds: Vec<Choice>,
    /// Why the last link form was refused, shown by the links section.
    pub(super) link_error: String,
    records: Vec<super::case_records::RecordKindView>,
    /// Why the last record form was refused, shown by the records section.
    pub(super) record_error: String,
}

/// What a failed form post brings back to the page.
struct Failed {
    action: String,
    values: Vec<(String, String)>,
    message: String,
}

#[derive(serde::Deserialize)]
pub struct PageQuery {
    done: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let notice = q.done.is_some().then(|| lang.t("case.done"));
    let result = async {
        let case = visible(&state, &staff, &id).await?;
        build(&state, lang, &staff, &case, None, None, notice).await
    }
    .await;
    match result {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => e.render(&state, lang, Some(&staff)),
    }
}

/// Names of the log actions the engine writes itself (not a pack's).
fn engine_action_name(lang: Lang, action: &str) -> Option<&'static str> {
    match action {
        "attach" => Some(lang.t("case.log_attach")),
        "link.add" => Some(lang.t("case.log_link_add")),
        "link.remove" => Some(lang.t("case.log_link_remove")),
        "party.add" => Some(lang.t("case.log_party_add")),
        "record.add" => Some(lang.t("case.log_record_add")),
        "record.act" => Some(lang.t("case.log_record_act")),
        "party.remove" => Some(lang.t("case.log_party_remove")),
        _ => None,
    }
}

fn deadline_status(lang: Lang, status: &str) -> String {
    match status {
        "active" => lang.t("deadline.active"),
        "paused" => lang.t("deadline.suspended"),
        "met" => lang.t("deadline.met"),
        "expired" => lang.t("deadline.expired"),
        other => return other.to_string(),
    }
    .to_string()
}

/// A sentence for each person named on the case whom a party added since
/// bars (they are a party, or declared one related): they must step aside.
async fn step_aside_notices(
    state: &AppState,
    lang: Lang,
    case_type: &CaseType,
    case: &CaseRecord,
) -> Result<Vec<String>, PageError> {
    let named: Vec<(&str, String)> = case_type
        .conflict_checked_people(&case.fields)
        .map(|(field, user)| (field, user.to_string()))
        .collect();
    let mut out = Vec::new();
    for (field, user) in named {
        let found = state
            .db
            .conflicts_for(&case.id, std::slice::from_ref(&user))
            .await?;
        let why = match found.first().and_then(|(_, c)| *c) {
            Some(Conflict::Party) => lang.t("case.conflict_party"),
            Some(Conflict::Related) => lang.t("case.conflict_related"),
            _ => continue,
        };
        let name = state
            .db
            .display_names(std::slice::from_ref(&user))
            .await?
            .remove(&user)
            .unwrap_or(user);
        let label = case_type
            .fields
            .get(field)
            .map_or_else(|| field.to_string(), |f| names(lang, &f.label));
        out.push(
            lang.t("case.step_aside")
                .replace("{field}", &label)
                .replace("{name}", &name)
                .replace("{why}", why),
        );
    }
    Ok(out)
}

async fn people_choices(
    state: &AppState,
    lang: Lang,
    case_type: &CaseType,
    case: &CaseRecord,
) -> Result<FieldChoices, PageError> {
    let mut out = BTreeMap::new();
    for def in case_type.fields.values() {
        if !matches!(def.kind, FieldKind::Person { .. }) {
            continue;
        }
        let candidates = state
            .db
            .person_candidates(case_type, &def.key, case)
            .await?;
        let option_name = |value: &str| {
            let choice = match &def.kind {
                FieldKind::Person {
                    expertise: Some(choice),
                    ..
                } => case_type.fields.get(choice),
                _ => None,
            };
            match choice.map(|c| &c.kind) {
                Some(FieldKind::Choice { options }) => options
                    .iter()
                    .find(|o| o.value == value)
                    .map_or_else(|| value.to_string(), |o| names(lang, &o.name)),
                _ => value.to_string(),
            }
        };
        let choices = candidates
            .into_iter()
            .map(|c| {
                let mut label = format!(
                    "{} · {}",
                    c.display_name,
                    lang.t("case.open_load")
                        .replace("{n}", &c.open_cases.to_string())
                );
                if !c.expertise.is_empty() {
                    let known: Vec<String> = c.expertise.iter().map(|v| option_name(v)).collect();
                    label.push_str(" · ");
                    label.push_str(&lang.tf("case.expertise", &[("list", &known.join("、"))]));
                }
                if c.knows_this {
                    label.push_str(lang.t("case.knows_this"));
                }
                Choice {
                    label,
                    value: c.user_id,
                }
            })
            .collect();
        out.insert(def.key.clone(), choices);
    }
    Ok(out)
}

/// Person fields shown by the person's name rather than their user id.
async fn person_names(
    state: &AppState,
    case_type: &CaseType,
    case: &CaseRecord,
) -> Result<HashMap<String, String>, PageError> {
    let ids: Vec<String> = case_type
        .fields
        .values()
        .filter(|d| matches!(d.kind, FieldKind::Person { .. }))
        .filter_map(|d| case.fields.get(&d.key)?.as_str().map(str::to_string))
        .collect();
    Ok(state.db.display_names(&ids).await?)
}

fn field_input(
    state: &AppState,
    lang: Lang,
    case_type: &CaseType,
    key: &str,
    required: bool,
    value: String,
    people: &FieldChoices,
) -> Option<FieldInput> {
    let def = case_type.fields.get(key)?;
    Some(def_input(state, lang, def, required, value, people))
}

fn action_form(
    state: &AppState,
    lang: Lang,
    case: &CaseRecord,
    case_type: &CaseType,
    action: &ActionDef,
    failed: Option<&Failed>,
    people: &FieldChoices,
) -> ActionForm {
    let failed = failed.filter(|f| f.action == action.id);
    let sent = |name: &str| {
        failed
            .and_then(|f| f.values.iter().find(|(k, _)| k == name))
            .map(|(_, v)| v.clone())
    };
    let current = |key: &str| {
        sent(&format!("f.{key}")).unwrap_or_else(|| {
            // Editable fields start from the case's value (never personal ones).
            case_type
                .fields
                .get(key)
                .filter(|d| !d.personal)
                .and_then(|_| case.fields.get(key))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .unwrap_or_default()
        })
    };
    let mut fields = Vec::new();
    for key in &action.requires {
        fields.extend(field_input(
            state,
            lang,
            case_type,
            key,
            true,
            current(key),
            people,
        ));
    }
    for key in &action.allows {
        fields.extend(field_input(
            state,
            lang,
            case_type,
            key,
            false,
            current(key),
            people,
        ));
    }
    ActionForm {
        id: action.id.clone(),
        name: names(lang, &action.name),
        fields,
        reason: match action.reason {
            ReasonRule::Required => "required",
            ReasonRule::Optional => "optional",
        },
        reason_value: sent("reason").unwrap_or_default(),
        target: action.target == TargetRule::Choose,
        target_value: sent("target_unit")
            .or_else(|| case.suggested_unit_id.clone())
            .unwrap_or_default(),
        error: failed.map(|f| f.message.clone()),
    }
}

/// The page as it stands, for another section's form to come back to.
pub(super) async fn build_current(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    case: &CaseRecord,
) -> Result<CasePage, PageError> {
    build(state, lang, staff, case, None, None, None).await
}

async fn build(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    case: &CaseRecord,
    revealed: Option<Revealed>,
    failed: Option<Failed>,
    notice: Option<&'static str>,
) -> Result<CasePage, PageError> {
    let now = now_micros();
    let p = Ctx::new(state, lang, Some(staff), &format!("/cases/{}", case.id));
    let case_type = state
        .packs
        .case_type(&case.pack, &case.case_type)
        .ok_or(PageError::Internal)?;
    let roles = staff.actor.roles_over(&case.access_scope());
    let state_name = |s: &str| {
        case_type
            .states
            .get(s)
            .map(|d| names(lang, &d.name))
            .unwrap_or_else(|| s.to_string())
    };
    let people = people_choices(state, lang, case_type, case).await?;
    let person_names = person_names(state, case_type, case).await?;
    let mut fields = Vec::new();
    let mut personal = Vec::new();
    // The title heads the page, so it is not listed again.
    let title_key = case_type.bindings.title.as_deref();
    for (key, def) in &case_type.fields {
        let Some(value) = case.fields.get(key) else {
            continue;
        };
        if let (FieldKind::Person { .. }, Some(id)) = (&def.kind, value.as_str()) {
            let name = person_names
                .get(id)
                .cloned()
                .unwrap_or_else(|| id.to_string());
            fields.push((names(lang, &def.label), name));
            continue;
        }
        if def.personal {
            let shown = match revealed.as_ref().and_then(|r| r.fields.get(key)) {
                Some(v) => display_value(state, lang, def, v),
                None => display_value(state, lang, def, &mask(&def.kind, value)),
            };
            personal.push((names(lang, &def.label), shown));
        } else if Some(key.as_str()) != title_key {
            fields.push((
                names(lang, &def.label),
                display_value(state, lang, def, value),
            ));
        }
    }
    let places = state.places();
    let suggested = case
        .suggested_unit_id
        .as_deref()
        .and_then(|id| places.unit(id))
        .map(|u| u.name.clone())
        .unwrap_or_default();
    let deadlines = state.db.deadlines_of(&case.id).await?;
    // A record's limit reads by its kind and state ("Session · Scheduled").
    let record_kinds: HashMap<String, String> = if deadlines.iter().any(|d| d.record_id.is_some()) {
        state
            .db
            .records_of(&case.id)
            .await?
            .into_iter()
            .map(|r| (r.id, r.kind))
            .collect()
    } else {
        HashMap::new()
    };
    let record_label = |record_id: &str, record_state: &str| {
        let def = record_kinds
            .get(record_id)
            .and_then(|kind| case_type.records.get(kind))?;
        let state_name = def
            .states
            .get(record_state)
            .map(|s| names(lang, &s.name))
            .unwrap_or_else(|| record_state.to_string());
        Some(format!("{} · {state_name}", names(lang, &def.name)))
    };
    let deadlines = deadlines
        .into_iter()
        .map(|d| {
            let running = d.status == "active";
            let (left, overdue) = match d.due_at {
                Some(due) if running => time_left(lang, due, now),
                _ => (String::new(), false),
            };
            // A named clock reads by its own name; a state's deadline by the state.
            let label = d
                .clock
                .as_ref()
                .and_then(|c| case_type.clocks.get(c))
                .map(|c| names(lang, &c.name))
                .or_else(|| {
                    d.record_id
                        .as_deref()
                        .and_then(|r| record_label(r, &d.state))
                })
                .unwrap_or_else(|| state_name(&d.state));
            DeadlineRow {
                state: label,
                due: p.opt_datetime(&d.due_at),
                left,
                overdue,
                status: deadline_status(lang, &d.status),
            }
        })
        .collect();
    let entries = state.db.timeline(&case.id).await?;
    // Everyone a person field has named, so the history shows names.
    let named: Vec<String> = entries
        .iter()
        .filter_map(|e| e.changes.as_object())
        .flat_map(|m| m.iter())
        .filter(|(k, _)| {
            case_type
                .fields
                .get(*k)
                .is_some_and(|d| matches!(d.kind, FieldKind::Person { .. }))
        })
        .filter_map(|(_, c)| c.get("after")?.as_str().map(str::to_string))
        .collect();
    let history_names = state.db.display_names(&named).await?;
    let timeline = entries
        .into_iter()
        .map(|e| {
            let changes = e
                .changes
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, c)| {
                            let def = case_type.fields.get(k)?;
                            let after = c.get("after").filter(|v| !v.is_null())?;
                            // The log keeps only a digest of personal values.
                            let text = if def.personal {
                                "***".to_string()
                            } else if let (FieldKind::Person { .. }, Some(id)) =
                                (&def.kind, after.as_str())
                            {
                                history_names
                                    .get(id)
                                    .cloned()
                                    .unwrap_or_else(|| id.to_string())
                            } else {
                                display_value(state, lang, def, after)
                            };
                            Some((names(lang, &def.label), text))
                        })
                        .collect()
                })
                .unwrap_or_default();
            TimelineRow {
                at: p.datetime(e.at),
                action: case_type
                    .actions
                    .get(&e.action)
                    .map(|a| names(lang, &a.name))
                    .or_else(|| engine_action_name(lang, &e.action).map(str::to_string))
                    .unwrap_or_else(|| e.action.clone()),
                to: state_name(&e.to_state),
                actor: e.actor_name.unwrap_or_default(),
                unit: e.actor_unit_name.unwrap_or_default(),
                reason: e.reason.unwrap_or_default(),
                changes,
            }
        })
        .collect();
    let attachments = state
        .db
        .attachments_of(&case.id)
        .await?
        .into_iter()
        .map(|a| AttachmentRow {
            id: a.id,
            name: a.original_name,
            media_type: a.media_type,
            size: format!("{:.1} KB", a.size_bytes as f64 / 1024.0),
        })
        .collect();
    let links = super::case_links::link_rows(state, &p, staff, case).await?;
    let parties = party_rows(state, lang, case_type, case, revealed.as_ref()).await?;
    let party_form = party_form(state, lang, case_type, &roles);
    let records = super::case_records::record_views(state, &p, staff, case_type, case).await?;
    let assist_rows = state
        .db
        .assists_of(&case.id)
        .await?
        .iter()
        .map(|t| super::assists::assist_row(state, &p, t, now))
        .collect();
    let actions: Vec<ActionForm> = case_type
        .actions_from(&case.state)
        .filter(|a| a.roles.iter().any(|r| roles.contains(r)))
        .map(|a| action_form(state, lang, case, case_type, a, failed.as_ref(), &people))
        .collect();
    let units = if actions.iter().any(|a| a.target) {
        let mut all: Vec<_> = state
            .db
            .units()
            .await?
            .into_iter()
            .filter(|u| u.kind != UnitKind::Grid)
            .collect();
        all.sort_by(|a, b| a.path.cmp(&b.path));
        all.into_iter()
            .map(|u| Choice {
                value: u.id,
                label: format!("{} ({})", u.name, u.code),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(CasePage {
        id: case.id.clone(),
        receipt_code: case.receipt_code.clone(),
        title: state
            .packs
            .title_of(&case.pack, &case.case_type, &case.fields)
            .to_string(),
        state_name: state_name(&case.state),
        holder: case.holder_unit_name.clone(),
        area: case.area_unit_name.clone().unwrap_or_default(),
        created: p.datetime(case.created_at),
        version: case.version,
        fields,
        revealed: revealed.is_some(),
        can_reveal: may_reveal(state, &case.pack, &roles),
        personal,
        suggested,
        route_reason: match (&case.route_reason, &case.route_reason_en) {
            (Some(zh), Some(en)) => lang.pick(zh, en).to_string(),
            (Some(zh), None) => zh.clone(),
            _ => String::new(),
        },
        deadlines,
        timeline,
        attachments,
        actions,
        units,
        notice,
        step_aside: step_aside_notices(state, lang, case_type, case).await?,
        assist_rows,
        links,
        parties,
        party_form,
        link_kinds: super::case_links::kind_choices(lang),
        link_error: String::new(),
        records,
        record_error: String::new(),
        p,
    })
}

/// The message for a refused action, in the user's language.
fn act_message(lang: Lang, case_type: &CaseType, e: &ApiError) -> String {
    let label = |key: &str| {
        case_type
            .fields
            .get(key)
            .map(|d| names(lang, &d.label))
            .unwrap_or_else(|| key.to_string())
    };
    match (e.code, e.field.as_deref()) {
        ("role_not_allowed", _) => lang.t("act_error.role_not_allowed").to_string(),
        ("wrong_state", _) => lang.t("act_error.wrong_state").to_string(),
        ("version_conflict", _) => lang.t("act_error.version_conflict").to_string(),
        ("reason_required", _) => lang.t("act_error.reason_required").to_string(),
        ("target_required", _) => lang.t("act_error.target_required").to_string(),
        ("missing_field", Some(f)) => lang.tf("act_error.missing_field", &[("field", &label(f))]),
        (_, Some(f)) => lang.tf("act_error.invalid_field", &[("field", &label(f))]),
        _ => lang.tf("act_error.other", &[("message", &e.message)]),
    }
}

pub async fn act(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let case = match posted_case(&state, lang, &staff, &id, &form).await {
        Ok(case) => case,
        Err(page) => return page,
    };
    let Some(case_type) = state.packs.case_type(&case.pack, &case.case_type) else {
        return PageError::Internal.render(&state, lang, Some(&staff));
    };
    let action = form_get(&form, "action").unwrap_or_default().to_string();
    let mut fields = Map::new();
    for (name, value) in &form {
        let Some(key) = name.strip_prefix("f.") else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let value = match case_type.fields.get(key).map(|d| &d.kind) {
            Some(FieldKind::Boolean) => Value::Bool(value == "true"),
            // Numbers are parsed by the field's own validation.
            _ => Value::String(value.to_string()),
        };
        fields.insert(key.to_string(), value);
    }
    let nonempty = |name: &str| {
        form_get(&form, name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let request = ActionRequest {
        action: action.clone(),
        fields,
        reason: nonempty("reason"),
        target_unit: nonempty("target_unit"),
    };
    let version = form_get(&form, "version").and_then(|v| v.parse::<i64>().ok());
    let acted = state
        .db
        .act(
            state.rules(&state.taxonomies()),
            &staff.actor,
            &case.id,
            request,
            version,
            now_micros(),
        )
        .await;
    match acted {
        Ok(_) => {
            // After handing a case on, the user may no longer see it.
            match state.db.case_for(&staff.actor, &case.id).await {
                Ok(Some(_)) => see_other(&format!("/cases/{}?done=1", case.id)),
                Ok(None) => see_other("/work"),
                Err(e) => PageError::from(e).render(&state, lang, Some(&staff)),
            }
        }
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_server_error() {
                return PageError::from(e).render(&state, lang, Some(&staff));
            }
            let failed = Failed {
                action,
                message: act_message(lang, case_type, &e),
                values: form,
            };
            // Show the case as it is now, with the refused form filled in again.
            let case = match visible(&state, &staff, &id).await {
                Ok(case) => case,
                Err(e) => return e.render(&state, lang, Some(&staff)),
            };
            match build(&state, lang, &staff, &case, None, Some(failed), None).await {
                Ok(page) => render(StatusCode::UNPROCESSABLE_ENTITY, &page),
                Err(e) => e.render(&state, lang, Some(&staff)),
            }
        }
    }
}

pub async fn reveal(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if !staff.csrf_ok(form_get(&form, "csrf_token")) {
        return PageError::FormExpired.render(&state, lang, Some(&staff));
    }
    let result = async {
        let case = visible(&state, &staff, &id).await?;
        let purpose = form_get(&form, "purpose").unwrap_or_default();
        let personal = reveal_personal(&state, &staff.actor, &case, purpose).await?;
        build(&state, lang, &staff, &case, Some(personal), None, None).await
    }
    .await;
    match result {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => e.render(&state, lang, Some(&staff)),
    }
}
