//! Intake: every channel (API, Open311, grid reports, imports) turns a request
//! into a case the same way: locate the place, pick or suggest the category,
//! suggest a lead unit by the routing rules, and create the case.

use serde_json::{Map, Value};

use gongzhi_domain::access::Actor;
use gongzhi_domain::engine::ActionRequest;
use gongzhi_domain::pack::{CaseType, IntakeChannel, IntakeValues, PackSet, Routing};
use gongzhi_domain::routing::{AreaRef, RouteDecision};
use gongzhi_domain::time::Micros;
use gongzhi_store::{Created, NewCase, Place};

use crate::error::ApiError;
use crate::state::AppState;

/// One incoming request, from any channel.
#[derive(Debug, Clone, Default)]
pub struct IntakeRequest {
    pub pack: String,
    pub case_type: String,
    pub fields: Map<String, Value>,
    pub reason: Option<String>,
    pub lng: Option<f64>,
    pub lat: Option<f64>,
    pub acting_unit: Option<String>,
    pub idempotency_key: Option<String>,
}

/// What a channel collected for a new case, by the engine's names.
#[derive(Debug, Clone, Copy, Default)]
pub struct Collected<'a> {
    pub title: &'a str,
    /// A category code, if the channel asked for one.
    pub category: Option<&'a str>,
    pub parts: IntakeValues<'a>,
}

/// The request a channel makes of what it collected: the case type the
/// channel registers, with each value under the field that type binds for
/// it, and the channel recorded in the type's channel field.
pub fn channel_request(
    packs: &PackSet,
    channel: IntakeChannel,
    collected: Collected<'_>,
) -> Result<IntakeRequest, ApiError> {
    let case_type = packs.intake_type(channel).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "channel_closed",
            format!(
                "no loaded pack takes cases in by the {} channel",
                channel.as_str()
            ),
        )
    })?;
    let intake = case_type.bindings.intake.clone().unwrap_or_default();
    let mut fields = intake.fill(collected.parts);
    let text = |s: &str| Value::String(s.to_string());
    if let Some(key) = &case_type.bindings.title {
        fields.insert(key.clone(), text(collected.title.trim()));
    }
    if let (Some(key), Some(code)) = (
        case_type.category_field(),
        collected.category.map(str::trim),
    ) && !code.is_empty()
    {
        fields.insert(key.to_string(), text(code));
    }
    if let Some(key) = &intake.channel_field {
        fields.insert(key.clone(), text(channel.as_str()));
    }
    Ok(IntakeRequest {
        pack: case_type.pack_id.clone(),
        case_type: case_type.id.clone(),
        fields,
        ..IntakeRequest::default()
    })
}

/// The words a category suggestion reads: the title and the description.
fn case_text(case_type: &CaseType, fields: &Map<String, Value>) -> String {
    let description = case_type
        .bindings
        .intake
        .as_ref()
        .and_then(|i| i.description.as_deref());
    [case_type.bindings.title.as_deref(), description]
        .into_iter()
        .filter_map(|k| CaseType::text_of(k, fields))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where routing would send a request, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Suggestion {
    /// `None`: the manual queue.
    pub unit_id: Option<String>,
    pub unit_code: Option<String>,
    pub unit_name: Option<String>,
    pub assist_unit_ids: Vec<String>,
    pub rule_id: Option<String>,
    /// The category routing used (given, or suggested from the text).
    pub category: Option<String>,
    pub category_suggested: bool,
    pub reason_zh: String,
    pub reason_en: String,
}

impl Suggestion {
    /// For a type its pack does not route.
    fn unrouted() -> Suggestion {
        Suggestion {
            unit_id: None,
            unit_code: None,
            unit_name: None,
            assist_unit_ids: Vec::new(),
            rule_id: None,
            category: None,
            category_suggested: false,
            reason_zh: "此类事项不经分拨规则，由登记单位办理".into(),
            reason_en: "this type is not routed: the registering unit keeps it".into(),
        }
    }
}

/// Suggests the lead unit for a request at a point with a category (or text
/// to suggest one from).
pub fn suggest_route(
    state: &AppState,
    category: Option<&str>,
    text: &str,
    lng: Option<f64>,
    lat: Option<f64>,
) -> Suggestion {
    let places = state.places();
    let chain: Vec<AreaRef> = match (lng, lat) {
        (Some(lng), Some(lat)) => places
            .locate_chain(lng, lat)
            .into_iter()
            .map(|u| AreaRef {
                unit_id: u.id.clone(),
                code: u.code.clone(),
                kind: u.kind,
            })
            .collect(),
        _ => Vec::new(),
    };
    let tax = state.taxonomies();
    let (category, category_suggested) = match category {
        Some(c) => (Some(c.to_string()), false),
        None if !text.trim().is_empty() => {
            // Only a clear winner is worth routing on.
            let best = tax
                .suggester
                .suggest(text)
                .into_iter()
                .next()
                .filter(|(_, p)| *p >= 0.5);
            (best.map(|(code, _)| code), true)
        }
        None => (None, false),
    };
    let names = |code: &str| places.unit_by_code(code).map(|u| u.name.clone());
    let decision = tax
        .routing
        .route_with_names(category.as_deref(), &chain, &names);
    match decision {
        RouteDecision::Suggested {
            lead_unit_code,
            lead_unit_id,
            assist_unit_codes,
            rule_id,
            reason,
        } => {
            let unit = lead_unit_id
                .as_deref()
                .and_then(|id| places.unit(id))
                .or_else(|| places.unit_by_code(&lead_unit_code));
            let suffix = if category_suggested {
                "（类别由文本推荐）"
            } else {
                ""
            };
            match unit {
                Some(unit) => Suggestion {
                    unit_id: Some(unit.id.clone()),
                    unit_code: Some(unit.code.clone()),
                    unit_name: Some(unit.name.clone()),
                    assist_unit_ids: assist_unit_codes
                        .iter()
                        .filter_map(|c| places.unit_by_code(c).map(|u| u.id.clone()))
                        .collect(),
                    rule_id,
                    category,
                    category_suggested,
                    reason_zh: format!("{}{suffix}", reason.zh),
                    reason_en: if category_suggested {
                        format!("{} (category suggested from the text)", reason.en)
                    } else {
                        reason.en
                    },
                },
                None => Suggestion {
                    unit_id: None,
                    unit_code: None,
                    unit_name: None,
                    assist_unit_ids: Vec::new(),
                    rule_id,
                    category,
                    category_suggested,
                    reason_zh: format!("规则指向的单位 {lead_unit_code} 不存在，转人工分拨"),
                    reason_en: format!(
                        "the rule names unit {lead_unit_code}, which does not exist: manual queue"
                    ),
                },
            }
        }
        RouteDecision::ManualQueue { reason } => Suggestion {
            unit_id: None,
            unit_code: None,
            unit_name: None,
            assist_unit_ids: Vec::new(),
            rule_id: None,
            category,
            category_suggested,
            reason_zh: reason.zh,
            reason_en: reason.en,
        },
    }
}

/// Creates a case from an incoming request (or finds the one an earlier try
/// with the same idempotency key created).
pub async fn intake(
    state: &AppState,
    actor: &Actor,
    req: IntakeRequest,
    at: Micros,
) -> Result<(Created, Suggestion), ApiError> {
    let case_type = state
        .packs
        .case_type(&req.pack, &req.case_type)
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_case_type",
                format!("no case type {}/{}", req.pack, req.case_type),
            )
        })?;
    let text = case_text(case_type, &req.fields);
    let category = case_type.category_of(&req.fields);
    // A type that is not routed stays with the unit that registers it.
    let suggestion = match case_type.routing {
        Routing::Rules => suggest_route(state, category, &text, req.lng, req.lat),
        Routing::None => Suggestion::unrouted(),
    };
    let routed = case_type.routing == Routing::Rules;
    let area_unit_id = match (req.lng, req.lat) {
        (Some(lng), Some(lat)) => state
            .places()
            .index
            .locate(lng, lat)
            .map(|a| a.unit_id.clone()),
        _ => None,
    };
    let new = NewCase {
        pack: req.pack.clone(),
        case_type: req.case_type.clone(),
        request: ActionRequest {
            action: case_type.creation_action().id.clone(),
            fields: req.fields,
            reason: req.reason,
            target_unit: None,
        },
        place: Place {
            lng: req.lng,
            lat: req.lat,
            area_unit_id,
        },
        acting_unit: req.acting_unit,
        suggestion: routed.then(|| gongzhi_store::RouteSuggestion {
            unit_id: suggestion.unit_id.clone(),
            reason_zh: suggestion.reason_zh.clone(),
            reason_en: suggestion.reason_en.clone(),
        }),
        idempotency_key: req.idempotency_key,
    };
    let created = state.batcher.create(actor.clone(), new, at).await?;
    Ok((created, suggestion))
}
