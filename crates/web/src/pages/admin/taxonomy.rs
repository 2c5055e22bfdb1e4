//! Categories and routing rules: the shipped files and the city's extension
//! files, with an admin layer on top. Each edit saves the whole layer as a
//! new revision in the database and swaps the running taxonomies at once
//! (intake, routing and the pages read a fresh snapshot per request).
//!
//! The layer is written out in the formats of `packs/requests/README.md`
//! (a category CSV and a routing TOML) and loaded after the other files, so
//! the domain's rules hold: a shipped code never gets a new Chinese name,
//! a rule with an existing id replaces that rule.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use gongzhi_domain::role::Role;
use gongzhi_domain::routing::Target;

use crate::state::AppState;
use crate::state::taxonomy::{CategoryRow, NoteRow, RuleRow, TaxonomyLayer};

use super::super::{Ctx, Lang, PageError, Staff, render, see_other};
use super::{change_by, check_post, done_notice, input_error, is_admin, refuse};

/// Categories and rules are city-wide: only an admin of a whole city (a
/// unit without parent) edits them; other admins may look.
fn city_admin(staff: &Staff) -> bool {
    staff
        .actor
        .assignments
        .iter()
        .any(|a| a.role == Role::ADMIN && a.unit_path.matches('/').count() == 2)
}

pub struct CategoryView {
    pub code: String,
    pub zh: String,
    pub en: String,
    pub urgency: &'static str,
    pub handling: String,
    pub depth: usize,
}

pub struct RootView {
    pub code: String,
    pub name: String,
    pub count: usize,
    pub items: Vec<CategoryView>,
}

pub struct RuleView {
    pub id: String,
    pub category: String,
    pub area: String,
    pub lead: String,
    pub assist: String,
    pub note: String,
}

fn target_text(t: &Target) -> String {
    match t {
        Target::Unit(code) => code.clone(),
        Target::Level(kind) => format!("@{}", kind.as_str()),
    }
}

#[derive(Deserialize, Default)]
pub struct TaxonomyForm {
    #[serde(default)]
    csrf_token: String,
    /// `add` or `rename` for categories.
    #[serde(default)]
    op: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    urgency: String,
    #[serde(default)]
    handling: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    area: String,
    #[serde(default)]
    lead: String,
    #[serde(default)]
    assist: String,
    #[serde(default)]
    note_zh: String,
    #[serde(default)]
    note_en: String,
}

#[derive(Template)]
#[template(path = "admin_taxonomy.html")]
struct TaxonomyPage {
    p: Ctx,
    section: &'static str,
    revision: i64,
    editable: bool,
    roots: Vec<RootView>,
    rules: Vec<RuleView>,
    form: TaxonomyForm,
    errors: Vec<String>,
    notice: String,
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

fn page_with(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    form: TaxonomyForm,
    errors: Vec<String>,
    notice: String,
    status: StatusCode,
) -> Response {
    let tax = state.taxonomies();
    let mut roots: Vec<RootView> = Vec::new();
    for c in tax.categories.iter() {
        let view = CategoryView {
            code: c.code.clone(),
            zh: c.name.zh.clone(),
            en: c.name.en.clone(),
            urgency: lang.t(match c.urgency.as_str() {
                "urgent" => "admin.urgency_urgent",
                _ => "admin.urgency_general",
            }),
            handling: c.handling.to_string(),
            depth: c.level.saturating_sub(1),
        };
        if c.level == 1 {
            roots.push(RootView {
                code: c.code.clone(),
                name: lang.pick(&c.name.zh, &c.name.en).to_string(),
                count: 0,
                items: vec![view],
            });
        } else if let Some(root) = roots.last_mut() {
            root.items.push(view);
        }
    }
    for r in &mut roots {
        r.count = r.items.len();
    }
    let rules = tax
        .routing
        .rules()
        .iter()
        .map(|r| RuleView {
            id: r.id.clone(),
            category: r.category.clone().unwrap_or_default(),
            area: r.area.clone().unwrap_or_default(),
            lead: r.lead.as_ref().map(target_text).unwrap_or_default(),
            assist: r
                .assist
                .iter()
                .map(target_text)
                .collect::<Vec<_>>()
                .join(", "),
            note: r
                .note
                .as_ref()
                .map(|n| lang.pick(&n.zh, &n.en).to_string())
                .unwrap_or_default(),
        })
        .collect();
    let page = TaxonomyPage {
        p: Ctx::new(state, lang, Some(staff), "/admin/taxonomy"),
        section: "taxonomy",
        revision: tax.revision,
        editable: city_admin(staff),
        roots,
        rules,
        form,
        errors,
        notice,
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
        TaxonomyForm::default(),
        Vec::new(),
        notice,
        StatusCode::OK,
    )
}

fn clean(text: &str) -> String {
    // One line per field: the files have no line breaks in fields.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn non_empty(text: &str) -> Option<String> {
    let t = clean(text);
    (!t.is_empty()).then_some(t)
}

/// Builds the new layer into taxonomies, saves the revision and swaps it in.
/// Returns the refusals to show, or `Ok` when it is in force.
async fn save(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    layer: TaxonomyLayer,
    change: serde_json::Value,
) -> Result<Result<(), Vec<String>>, PageError> {
    let current = state.taxonomies();
    let next = match current.with_layer(current.revision + 1, layer) {
        Ok(t) => t,
        Err(problems) => {
            return Ok(Err(vec![
                lang.tf("admin.error_taxonomy", &[("problems", &problems)]),
            ]));
        }
    };
    let (categories, routing) = next.layer.to_json().map_err(|e| {
        tracing::error!(error = %e, "taxonomy layer to JSON");
        PageError::Internal
    })?;
    match state
        .db
        .add_taxonomy_revision(
            current.revision,
            &categories,
            &routing,
            change,
            &change_by(staff),
        )
        .await
    {
        Ok(_) => {
            state.taxonomy_cell.set(next);
            Ok(Ok(()))
        }
        Err(e) => match input_error(lang, &e) {
            Some(message) => Ok(Err(vec![message])),
            None => Err(PageError::from(e)),
        },
    }
}

pub async fn category(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Form(form): Form<TaxonomyForm>,
) -> Response {
    if let Some(refused) = check_post(&state, lang, &staff, &form.csrf_token) {
        return refused;
    }
    if !city_admin(&staff) {
        return refuse(&state, lang, &staff);
    }
    let tax = state.taxonomies();
    let mut layer = tax.layer.clone();
    let code = clean(&form.code);
    let name_zh = clean(&form.name_zh);
    let name_en = clean(&form.name_en);
    let mut errors = Vec::new();
    if code.is_empty() {
        errors.push(lang.t("admin.error_category_code").to_string());
    }
    let urgency = clean(&form.urgency);
    if !matches!(urgency.as_str(), "" | "urgent" | "general") {
        errors.push(lang.t("admin.error_urgency").to_string());
    }
    let exists = tax.categories.get(&code);
    let change = match form.op.as_str() {
        "add" => {
            if exists.is_some() {
                errors.push(lang.tf("admin.error_category_exists", &[("code", &code)]));
            }
            if name_zh.is_empty() {
                errors.push(lang.t("admin.error_category_name").to_string());
            }
            layer.categories.push(CategoryRow {
                code: code.clone(),
                name_zh: name_zh.clone(),
                name_en: name_en.clone(),
                urgency,
                dispatch: String::new(),
                handling: clean(&form.handling),
            });
            json!({"action": "category.add", "code": code, "name_zh": name_zh, "name_en": name_en})
        }
        "rename" => {
            match exists {
                None => errors.push(lang.tf("admin.error_category_unknown", &[("code", &code)])),
                Some(c) => {
                    if name_zh.is_empty() && name_en.is_empty() {
                        errors.push(lang.t("admin.error_category_name").to_string());
                    }
                    // Only a category this layer added may change its Chinese
                    // name; a shipped code never changes meaning.
                    let row = layer.categories.iter_mut().find(|r| r.code == code);
                    match row {
                        Some(row) if !row.name_zh.is_empty() => {
                            if !name_zh.is_empty() {
                                row.name_zh = name_zh.clone();
                            }
                            if !name_en.is_empty() {
                                row.name_en = name_en.clone();
                            }
                        }
                        _ if !name_zh.is_empty() && name_zh != c.name.zh => {
                            errors.push(lang.t("admin.error_rename_zh").to_string());
                        }
                        // An earlier override of this shipped code: change it in place.
                        Some(row) => {
                            if !name_en.is_empty() {
                                row.name_en = name_en.clone();
                            }
                        }
                        None => layer.categories.push(CategoryRow {
                            code: code.clone(),
                            name_en: name_en.clone(),
                            ..CategoryRow::default()
                        }),
                    }
                }
            }
            let before = exists.map(|c| json!({"zh": c.name.zh, "en": c.name.en}));
            json!({"action": "category.rename", "code": code, "before": before,
                   "after": {"zh": name_zh, "en": name_en}})
        }
        _ => return PageError::NotFound.render(&state, lang, Some(&staff)),
    };
    if errors.is_empty() {
        match save(&state, lang, &staff, layer, change).await {
            Ok(Ok(())) => return see_other("/admin/taxonomy?done=category_saved"),
            Ok(Err(refusals)) => errors = refusals,
            Err(e) => return e.render(&state, lang, Some(&staff)),
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
}

pub async fn rule(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Form(form): Form<TaxonomyForm>,
) -> Response {
    if let Some(refused) = check_post(&state, lang, &staff, &form.csrf_token) {
        return refused;
    }
    if !city_admin(&staff) {
        return refuse(&state, lang, &staff);
    }
    let mut errors = Vec::new();
    let id = clean(&form.id);
    if id.is_empty() {
        errors.push(lang.t("admin.error_rule_id").to_string());
    }
    let assist: Vec<String> = form
        .assist
        .split([',', '，', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let row = RuleRow {
        id: id.clone(),
        category: non_empty(&form.category),
        area: non_empty(&form.area),
        lead: non_empty(&form.lead),
        assist,
        note: match (clean(&form.note_zh), clean(&form.note_en)) {
            (zh, en) if zh.is_empty() && en.is_empty() => None,
            (zh, en) if en.is_empty() => Some(NoteRow { en: zh.clone(), zh }),
            (zh, en) if zh.is_empty() => Some(NoteRow { zh: en.clone(), en }),
            (zh, en) => Some(NoteRow { zh, en }),
        },
    };
    if row.lead.is_none() && row.assist.is_empty() {
        errors.push(lang.t("admin.error_rule_target").to_string());
    }
    // Unit codes must name units that exist (the domain cannot check them).
    let places = state.places();
    let named = row
        .area
        .iter()
        .map(|c| ("admin.rule_area", c))
        .chain(row.lead.iter().map(|c| ("admin.rule_lead", c)))
        .chain(row.assist.iter().map(|c| ("admin.rule_assist", c)));
    for (field, code) in named {
        if !code.starts_with('@') && places.unit_by_code(code).is_none() {
            errors.push(lang.tf(
                "admin.error_rule_unit",
                &[("field", lang.t(field)), ("code", code)],
            ));
        }
    }
    let tax = state.taxonomies();
    let replaces = tax.routing.get(&id).is_some();
    let mut layer = tax.layer.clone();
    match layer.rules.iter_mut().find(|r| r.id == id) {
        Some(existing) => *existing = row.clone(),
        None => layer.rules.push(row.clone()),
    }
    if errors.is_empty() {
        let change = json!({"action": "rule.save", "id": id, "replaces": replaces, "rule": row});
        match save(&state, lang, &staff, layer, change).await {
            Ok(Ok(())) => return see_other("/admin/taxonomy?done=rule_saved"),
            Ok(Err(refusals)) => errors = refusals,
            Err(e) => return e.render(&state, lang, Some(&staff)),
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
}
