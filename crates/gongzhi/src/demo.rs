//! Loads the demo city (`serve --demo`): the generated units and grids, staff
//! for every role, and about 3,000 historical cases replayed through the case
//! engine, so that their logs and deadlines are real.

use anyhow::{Context, Result};
use geo::BoundingRect;
use serde_json::{Map, Value};

use gongzhi_domain::access::{Actor, Assignment};
use gongzhi_domain::demo::{DEMO_PASSWORD, DemoCaseSeed, DemoStep, generate_city};
use gongzhi_domain::engine::ActionRequest;
use gongzhi_domain::places::geometry_to_geojson;
use gongzhi_domain::role::Role;
use gongzhi_domain::time::{MICROS_PER_HOUR, now_micros};
use gongzhi_store::{NewCase, NewUnit, Place, Rules, act_tx, create_case_tx};
use gongzhi_web::AppState;
use gongzhi_web::intake::suggest_route;

/// The demo's fixed seed: same seed, same city.
pub const DEMO_SEED: u64 = 2026;
const HISTORY_USER: &str = "demo-history";
const CASES_PER_TRANSACTION: usize = 200;

/// Loads the demo city into an empty database; leaves a non-empty one alone.
/// Returns the text to print: the demo logins.
pub async fn load_demo_if_empty(state: &AppState) -> Result<String> {
    let db = &state.db;
    let city = generate_city(DEMO_SEED, now_micros());
    if db.unit_count().await? == 0 {
        load(state, &city).await?;
    } else {
        tracing::info!("database not empty: demo city not loaded again");
    }
    let mut text = format!("demo logins (password {DEMO_PASSWORD}):");
    for user in &city.users {
        let mut roles: Vec<&str> = user
            .roles
            .iter()
            .map(|(r, _)| state.packs.role(r).map_or(*r, |d| d.name.zh.as_str()))
            .collect();
        roles.dedup();
        text.push_str(&format!(
            "\n  {:<22} {} {}",
            user.username,
            user.display_name,
            roles.join("/")
        ));
    }
    Ok(text)
}

async fn load(state: &AppState, city: &gongzhi_domain::demo::DemoCity) -> Result<()> {
    let db = &state.db;
    let tax = state.taxonomies();
    let rules = state.rules(&tax);
    let started = std::time::Instant::now();
    let units: Vec<NewUnit> = city
        .units
        .iter()
        .map(|u| NewUnit {
            id: u.id.clone(),
            parent_id: u.parent_id.clone(),
            kind: u.kind,
            code: u.code.clone(),
            name: u.name.clone(),
            geometry: u.shape.as_ref().and_then(|s| {
                s.bounding_rect().map(|r| {
                    (
                        geometry_to_geojson(s).to_string(),
                        [r.min().x, r.min().y, r.max().x, r.max().y],
                    )
                })
            }),
        })
        .collect();
    db.insert_units(units).await.context("demo units")?;
    // Routing suggestions need the new polygons.
    state.reload_places().await?;

    // Every demo user has the same published password, so one hash serves all.
    let hash = gongzhi_web::auth::hash_password(DEMO_PASSWORD.to_string())
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    for user in &city.users {
        let created = db
            .create_user(&user.username, &user.display_name, Some(&hash))
            .await?;
        for (name, unit) in &user.roles {
            let role = state
                .packs
                .role(name)
                .with_context(|| format!("demo role `{name}` is declared by no loaded pack"))?;
            db.grant_role(&created.id, role.role, unit).await?;
        }
    }

    // Historical cases are replayed by a system account holding every role the
    // packs declare at the city, so the timelines say plainly that they were
    // imported.
    let city_unit = city.units.first().context("demo city has no units")?;
    let system = db.create_user(HISTORY_USER, "历史数据导入", None).await?;
    let history_roles: Vec<Role> = state
        .packs
        .roles()
        .map(|d| d.role)
        .filter(|r| *r != Role::ADMIN)
        .collect();
    for role in &history_roles {
        db.grant_role(&system.id, *role, &city_unit.id).await?;
    }
    let actor = Actor {
        user_id: system.id.clone(),
        username: system.username.clone(),
        display_name: system.display_name.clone(),
        assignments: history_roles
            .into_iter()
            .map(|role| Assignment {
                role,
                unit_id: city_unit.id.clone(),
                unit_path: format!("/{}/", city_unit.id),
            })
            .collect(),
    };
    for chunk in city.case_seeds.chunks(CASES_PER_TRANSACTION) {
        let mut tx = db.begin_write().await?;
        for seed in chunk {
            replay(&mut tx, state, rules, &actor, seed).await?;
        }
        tx.commit().await?;
    }
    tracing::info!(
        units = city.units.len(),
        users = city.users.len(),
        cases = city.case_seeds.len(),
        ms = started.elapsed().as_millis() as u64,
        "demo city loaded"
    );
    Ok(())
}

/// The demo `handler` account's bureau (东湖区城市管理局) and its district's
/// unit-id prefix: open cases there ask it to assist.
const ASSIST_UNIT: &str = "u-YZ-01-D01";
const ASSIST_DISTRICT_PREFIX: &str = "u-YZ-01-";

fn fields(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect()
}

async fn replay(
    tx: &mut gongzhi_store::Tx,
    state: &AppState,
    rules: Rules<'_>,
    actor: &Actor,
    seed: &DemoCaseSeed,
) -> Result<()> {
    let title: String = seed.title.chars().take(200).collect();
    // The messages carry first-level category names; the taxonomy has codes.
    let category = state
        .taxonomies()
        .categories
        .roots()
        .into_iter()
        .find(|c| c.name.zh == seed.category)
        .map(|c| c.code.clone());
    let suggestion = suggest_route(
        state,
        category.as_deref(),
        &title,
        Some(seed.lng),
        Some(seed.lat),
    );
    let mut create_fields = fields(&[
        ("title", &title),
        ("description", &seed.description),
        ("channel", "web"),
    ]);
    if let Some(code) = &category {
        create_fields.insert("category".into(), Value::String(code.clone()));
    }
    let new = NewCase {
        pack: "requests".into(),
        case_type: "request".into(),
        request: ActionRequest {
            action: "create".into(),
            fields: create_fields,
            reason: None,
            target_unit: None,
        },
        place: Place {
            lng: Some(seed.lng),
            lat: Some(seed.lat),
            area_unit_id: Some(seed.grid_id.clone()),
        },
        acting_unit: None,
        suggestion: Some(gongzhi_store::RouteSuggestion {
            unit_id: suggestion.unit_id.clone(),
            reason_zh: suggestion.reason_zh.clone(),
            reason_en: suggestion.reason_en.clone(),
        }),
        idempotency_key: None,
    };
    let created = create_case_tx(tx, rules, actor, new, seed.created_at)
        .await
        .map_err(|e| anyhow::anyhow!("demo case {title}: {e}"))?;
    // Each historical step becomes the requests pack's actions; a closed case
    // went through the follow-up call and verification first.
    let step = |action: &str, fields: Map<String, Value>, target: Option<String>| ActionRequest {
        action: action.into(),
        fields,
        reason: None,
        target_unit: target,
    };
    let mut steps: Vec<(i64, ActionRequest)> = Vec::new();
    let mut holder: Option<String> = None;
    for history in &seed.history {
        match history {
            DemoStep::Dispatched { at, to_unit_id } => {
                // Dispatchers mostly follow the suggestion; where there is none
                // (the manual queue) they pick the unit the history names.
                let unit = suggestion
                    .unit_id
                    .clone()
                    .unwrap_or_else(|| to_unit_id.clone());
                holder = Some(unit.clone());
                steps.push((*at, step("dispatch", Map::new(), Some(unit))))
            }
            DemoStep::Accepted { at } => steps.push((*at, step("accept", Map::new(), None))),
            DemoStep::Resolved { at, note } => steps.push((
                *at,
                step(
                    "report",
                    fields(&[("result", note), ("outcome", "resolved")]),
                    None,
                ),
            )),
            DemoStep::Closed { at } => {
                let follow_up = fields(&[("satisfaction", "satisfied")]);
                steps.push((
                    *at - 2 * MICROS_PER_HOUR,
                    step("follow_up", follow_up, None),
                ));
                let verified = fields(&[("verification", "passed")]);
                steps.push((*at - MICROS_PER_HOUR, step("verify", verified, None)));
                steps.push((*at, step("close", Map::new(), None)));
            }
        }
    }
    // Some open cases in the demo handler's district call on its bureau for
    // joint handling, so /assists has tasks to show.
    if let (Some(DemoStep::Accepted { at }), Some(holder)) = (seed.history.last(), &holder) {
        let wanted = seed.grid_id.starts_with(ASSIST_DISTRICT_PREFIX)
            && holder != ASSIST_UNIT
            && seed.created_at % 2 == 0
            && *at + MICROS_PER_HOUR < now_micros();
        if wanted {
            let task = fields(&[("assist_task", "请派员协助现场核查，提出处置意见。")]);
            steps.push((
                *at + MICROS_PER_HOUR,
                step("add_assist", task, Some(ASSIST_UNIT.to_string())),
            ));
        }
    }
    for (at, request) in steps {
        let action = request.action.clone();
        act_tx(tx, rules, actor, &created.case_id, request, None, at)
            .await
            .map_err(|e| anyhow::anyhow!("demo case {title}, {action}: {e}"))?;
    }
    Ok(())
}
