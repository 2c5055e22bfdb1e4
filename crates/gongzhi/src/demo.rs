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
use gongzhi_store::{ChangeBy, NewCase, NewUnit, Place, Rules, act_tx, create_case_tx};
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
        if let Some((_, kinds)) = MEDIATOR_EXPERTISE.iter().find(|(u, _)| *u == user.username) {
            let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
            db.set_expertise_logged(
                &ChangeBy::system(),
                &created.id,
                "mediation",
                "dispute_kind",
                &kinds,
            )
            .await?;
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
                assigned_only: false,
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
    let disputes = replay_disputes(state, rules, city, &system.id).await?;
    tracing::info!(
        units = city.units.len(),
        users = city.users.len(),
        cases = city.case_seeds.len(),
        disputes,
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

/// Disputes the demo's street mediation committee has handled: how many, and
/// over how many days before now.
const DEMO_DISPUTES: usize = 240;
const DISPUTE_DAYS: i64 = 180;

/// Kinds of dispute with their share (out of 20) and typical matters.
const DISPUTE_KINDS: &[(&str, u32, &[&str])] = &[
    (
        "neighbours",
        6,
        &[
            "楼上漏水致楼下天花板受损",
            "邻居装修噪音扰民",
            "相邻通道被堆放杂物占用",
            "空调外机噪音和滴水",
        ],
    ),
    (
        "family",
        4,
        &[
            "赡养老人费用分担",
            "离婚后子女探视安排",
            "兄弟姐妹房屋继承分配",
        ],
    ),
    (
        "property",
        3,
        &[
            "租房押金不予退还",
            "物业费收取与服务质量争议",
            "车位使用权纠纷",
        ],
    ),
    (
        "labour",
        3,
        &["装修工人工资拖欠", "餐馆员工辞退补偿", "临时工工伤医疗费"],
    ),
    ("contract", 2, &["预付卡商家停业退款", "二手车买卖质量争议"]),
    ("traffic", 1, &["电动车碰撞行人赔偿"]),
    ("medical", 1, &["社区诊所诊疗费用争议"]),
];

/// How a demo dispute ended up.
#[derive(Clone, Copy)]
enum DisputeEnd {
    /// Agreement; then judicial confirmation applied for or not, and the follow-up.
    Agreed {
        confirmed: bool,
        performance: &'static str,
    },
    NoAgreement {
        referred: bool,
    },
    Withdrawn,
    /// Still with the committee: taken on (0), mediating with a session (1).
    Open(u8),
}

/// A small deterministic mix (same seed, same disputes).
fn dispute_end(i: usize) -> DisputeEnd {
    let r = (i * 7919 + 13) % 100;
    match r {
        0..=44 => DisputeEnd::Agreed {
            confirmed: !r.is_multiple_of(3),
            performance: if r.is_multiple_of(9) {
                "partly"
            } else {
                "performed"
            },
        },
        45..=64 => DisputeEnd::NoAgreement {
            referred: r.is_multiple_of(2),
        },
        65..=72 => DisputeEnd::Withdrawn,
        _ => DisputeEnd::Open(u8::from(r.is_multiple_of(2))),
    }
}

fn dispute_kind(i: usize) -> (&'static str, &'static str) {
    let total: u32 = DISPUTE_KINDS.iter().map(|k| k.1).sum();
    let mut pick = u32::try_from((i * 31) % total as usize).unwrap_or(0);
    for (kind, share, matters) in DISPUTE_KINDS {
        if pick < *share {
            return (kind, matters[(i / 7) % matters.len()]);
        }
        pick -= share;
    }
    ("neighbours", DISPUTE_KINDS[0].2[0])
}

/// What the demo's mediators know: kinds of dispute (the mediation pack's
/// `dispute_kind` options).
const MEDIATOR_EXPERTISE: [(&str, &[&str]); 3] = [
    ("mediator", &["neighbours", "property"]),
    ("mediator.family", &["family", "neighbours"]),
    ("mediator.city", &["medical", "traffic", "labour"]),
];

/// The demo's disputes, handled at the street committee where the demo
/// `mediator` works, through the mediation pack's actions and records.
async fn replay_disputes(
    state: &AppState,
    rules: Rules<'_>,
    city: &gongzhi_domain::demo::DemoCity,
    history_user_id: &str,
) -> Result<usize> {
    let db = &state.db;
    let Some(case_type) = state.packs.case_type("mediation", "dispute") else {
        return Ok(0);
    };
    let street_id = city
        .users
        .iter()
        .find(|u| u.username == "mediator")
        .and_then(|u| u.roles.first())
        .map(|(_, unit)| unit.clone())
        .context("the demo has no mediator")?;
    let street = db
        .units()
        .await?
        .into_iter()
        .find(|u| u.id == street_id)
        .context("the mediator's street")?;
    let mediator_id = db
        .user_by_username("mediator")
        .await?
        .context("the demo mediator")?
        .id;
    let assignment = |role: &str| -> Result<Assignment> {
        Ok(Assignment {
            role: state.packs.role(role).context("mediation role")?.role,
            unit_id: street.id.clone(),
            unit_path: street.path.clone(),
            assigned_only: false,
        })
    };
    let actor = Actor {
        user_id: history_user_id.to_string(),
        username: HISTORY_USER.to_string(),
        display_name: "历史数据导入".to_string(),
        assignments: vec![assignment("mediation_clerk")?, assignment("mediator")?],
    };
    let now = now_micros();
    let day = 24 * MICROS_PER_HOUR;
    for chunk in (0..DEMO_DISPUTES)
        .collect::<Vec<_>>()
        .chunks(CASES_PER_TRANSACTION)
    {
        let mut tx = db.begin_write().await?;
        for &i in chunk {
            let offset = i64::try_from(i).unwrap_or(0) * DISPUTE_DAYS * day / DEMO_DISPUTES as i64;
            let created_at = now - DISPUTE_DAYS * day + offset;
            replay_dispute(
                &mut tx,
                rules,
                &actor,
                case_type,
                i,
                created_at,
                now,
                &mediator_id,
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(DEMO_DISPUTES)
}

#[allow(clippy::too_many_arguments)]
async fn replay_dispute(
    tx: &mut gongzhi_store::Tx,
    rules: Rules<'_>,
    actor: &Actor,
    case_type: &gongzhi_domain::pack::CaseType,
    i: usize,
    created_at: i64,
    now: i64,
    mediator_id: &str,
) -> Result<()> {
    let (kind, matter) = dispute_kind(i);
    let source = ["walk_in", "request", "grid", "court_pre_filing"][i % 4];
    let new = NewCase {
        pack: "mediation".into(),
        case_type: "dispute".into(),
        request: ActionRequest {
            action: "create".into(),
            fields: fields(&[
                ("title", matter),
                ("dispute_kind", kind),
                ("source", source),
                ("claim", "请求调委会主持调解，依法协商解决"),
            ]),
            reason: None,
            target_unit: None,
        },
        place: Place {
            lng: None,
            lat: None,
            area_unit_id: None,
        },
        acting_unit: None,
        suggestion: None,
        idempotency_key: None,
    };
    let case = create_case_tx(tx, rules, actor, new, created_at)
        .await
        .map_err(|e| anyhow::anyhow!("demo dispute {matter}: {e}"))?
        .case_id;
    let end = dispute_end(i);
    // Steps an hour or a few days apart, never later than now.
    let mut at = created_at;
    let mut next = |hours: i64| {
        at = (at + hours * MICROS_PER_HOUR).min(now - MICROS_PER_HOUR);
        at
    };
    let act = |action: &str, pairs: &[(&str, &str)]| ActionRequest {
        action: action.into(),
        fields: fields(pairs),
        reason: None,
        target_unit: None,
    };
    let mut steps = vec![(next(2), act("accept", &[]))];
    if !matches!(end, DisputeEnd::Open(0)) {
        steps.push((
            next(20),
            act("assign_mediator", &[("mediator", mediator_id)]),
        ));
    }
    for (when, request) in steps {
        act_tx(tx, rules, actor, &case, request, None, when)
            .await
            .map_err(|e| anyhow::anyhow!("demo dispute {matter}: {e}"))?;
    }
    if matches!(end, DisputeEnd::Open(0)) {
        return Ok(());
    }
    let record = |kind: &str| case_type.records.get(kind).context("mediation record kind");
    let session_at = next(72);
    // The session's day in the demo city's time (UTC+8).
    let session_day = chrono::DateTime::from_timestamp_micros(session_at + 8 * MICROS_PER_HOUR)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let session = gongzhi_store::add_record_tx(
        tx,
        rules.calendar,
        actor,
        &case,
        record("session")?,
        &fields(&[
            ("on", session_day.as_str()),
            ("time", "09:30"),
            ("place", "街道人民调解室"),
        ]),
        session_at,
    )
    .await?;
    gongzhi_store::act_on_record_tx(
        tx,
        rules.calendar,
        actor,
        &case,
        &session,
        record("session")?,
        "hold",
        &fields(&[
            ("attendance", "双方到场"),
            ("minutes", "双方陈述意见，调解员释法说理"),
        ]),
        next(3),
    )
    .await?;
    let mut steps: Vec<(i64, ActionRequest)> = Vec::new();
    match end {
        DisputeEnd::Open(_) => {}
        DisputeEnd::Withdrawn => steps.push((
            next(48),
            ActionRequest {
                reason: Some("当事人自行和解，申请撤回".into()),
                ..act("withdraw", &[])
            },
        )),
        DisputeEnd::NoAgreement { referred } => {
            steps.push((
                next(96),
                act(
                    "record_no_agreement",
                    &[("no_agreement_reason", "双方分歧较大，未能达成一致")],
                ),
            ));
            if referred {
                steps.push((next(4), act("refer", &[("referred_to", "court")])));
            }
        }
        DisputeEnd::Agreed {
            confirmed,
            performance,
        } => {
            let agreement = gongzhi_store::add_record_tx(
                tx,
                rules.calendar,
                actor,
                &case,
                record("agreement")?,
                &fields(&[("terms", "双方自愿达成协议，按约定期限履行")]),
                next(96),
            )
            .await?;
            for (action, field, how) in [
                ("applicant_confirms", "applicant_signature", "on_screen"),
                ("respondent_completes", "respondent_signature", "paper"),
            ] {
                gongzhi_store::act_on_record_tx(
                    tx,
                    rules.calendar,
                    actor,
                    &case,
                    &agreement,
                    record("agreement")?,
                    action,
                    &fields(&[(field, how)]),
                    next(1),
                )
                .await?;
            }
            steps.push((next(1), act("reach_agreement", &[])));
            if confirmed {
                steps.push((
                    next(72),
                    act(
                        "apply_confirmation",
                        &[("confirmation_court", "东湖区人民法院")],
                    ),
                ));
            }
            steps.push((
                next(24 * 20),
                act("follow_up", &[("performance", performance)]),
            ));
        }
    }
    for (when, request) in steps {
        let action = request.action.clone();
        act_tx(tx, rules, actor, &case, request, None, when)
            .await
            .map_err(|e| anyhow::anyhow!("demo dispute {matter}, {action}: {e}"))?;
    }
    Ok(())
}
