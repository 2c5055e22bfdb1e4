//! The case engine's pure decision: given a case type, the case as it is and
//! a requested action, work out the transition or say why it is refused.
//!
//! Nothing is stored or changed here; the caller applies an `Ok` transition
//! (and writes the log) or reports the error. Checks run in a fixed order so
//! the same request always yields the same error.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::pack::{ActionDef, CaseType, DeadlineDef, Effect, ReasonRule, TargetRule};
use crate::role::Role;

/// Longest reason accepted, in characters after trimming.
pub const MAX_REASON_CHARS: usize = 2_000;

/// The parts of a case the decision depends on.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CaseSnapshot {
    pub state: String,
    pub fields: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ActionRequest {
    pub action: String,
    /// Fields to set; `null` or a blank string clears a field.
    pub fields: Map<String, Value>,
    pub reason: Option<String>,
    /// Unit code, only for actions with `target = "choose"`.
    pub target_unit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    pub action: String,
    /// `None` for the creation action.
    pub from_state: Option<String>,
    pub to_state: String,
    /// The full field set after the action.
    pub fields: Map<String, Value>,
    /// Only fields whose value changed, in key order.
    pub changes: Vec<FieldChange>,
    /// Trimmed; `None` if absent or blank.
    pub reason: Option<String>,
    pub target: TargetDecision,
    /// The first of the action's roles that the actor holds.
    pub acting_role: Role,
    /// The running deadline (if any) ends: the case left its state or moved
    /// to another unit.
    pub leave_deadline: bool,
    /// The deadline to start, when the case entered a state (or a new unit
    /// took it over) and that state has one.
    pub enter_deadline: Option<DeadlineDef>,
    /// Named clocks that entering the new state starts (if not running).
    pub start_clocks: Vec<String>,
    /// Named clocks that entering the new state stops, met.
    pub stop_clocks: Vec<String>,
    /// What else the store must do (assists, clock).
    pub effect: Effect,
    /// For assist effects: the assisting unit named by `target_unit`.
    pub assist_unit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub key: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// Copied from the field definition so the log can hash the values.
    pub personal: bool,
}

/// Which unit holds the case afterwards, as far as the engine can tell; the
/// store resolves `Parent` and `ActorUnit` and checks that a unit exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetDecision {
    Keep,
    Unit(String),
    Parent,
    ActorUnit,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("unknown action `{action}`")]
    UnknownAction { action: String },
    #[error("the case does not exist yet; only the creation action is possible")]
    CreationRequired,
    #[error("the case already exists")]
    AlreadyCreated,
    #[error("action `{action}` is not possible in state `{state}`")]
    WrongState { action: String, state: String },
    #[error("none of your roles may perform `{action}` here")]
    RoleNotAllowed { action: String },
    #[error("unknown field `{key}`")]
    UnknownField { key: String },
    #[error("action `{action}` may not set field `{key}`")]
    FieldNotAllowed { key: String, action: String },
    #[error("field `{key}` is required")]
    MissingField { key: String },
    #[error("field `{key}` {reason}")]
    InvalidField { key: String, reason: String },
    #[error("action `{action}` requires a reason")]
    ReasonRequired { action: String },
    #[error("the reason is longer than {MAX_REASON_CHARS} characters")]
    ReasonTooLong,
    #[error("action `{action}` requires a target unit")]
    TargetRequired { action: String },
    #[error("action `{action}` does not take a target unit")]
    TargetNotAllowed { action: String },
}

impl EngineError {
    /// Stable snake_case code for APIs and translations.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::UnknownAction { .. } => "unknown_action",
            EngineError::CreationRequired => "creation_required",
            EngineError::AlreadyCreated => "already_created",
            EngineError::WrongState { .. } => "wrong_state",
            EngineError::RoleNotAllowed { .. } => "role_not_allowed",
            EngineError::UnknownField { .. } => "unknown_field",
            EngineError::FieldNotAllowed { .. } => "field_not_allowed",
            EngineError::MissingField { .. } => "missing_field",
            EngineError::InvalidField { .. } => "invalid_field",
            EngineError::ReasonRequired { .. } => "reason_required",
            EngineError::ReasonTooLong => "reason_too_long",
            EngineError::TargetRequired { .. } => "target_required",
            EngineError::TargetNotAllowed { .. } => "target_not_allowed",
        }
    }

    /// The field the error is about, so a form can mark it.
    pub fn field(&self) -> Option<&str> {
        match self {
            EngineError::UnknownField { key }
            | EngineError::FieldNotAllowed { key, .. }
            | EngineError::MissingField { key }
            | EngineError::InvalidField { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Decides what `request` does to a case of `case_type`.
///
/// `current` is `None` for a case not yet created. `actor_roles` are the roles
/// the actor holds whose scope covers this case. Checks, in order: action
/// exists; creation vs. existing case; current state is in `from`; role;
/// each submitted field (in key order) is declared, allowed and valid;
/// required fields present after merging; reason; target.
pub fn decide(
    case_type: &CaseType,
    current: Option<&CaseSnapshot>,
    request: &ActionRequest,
    actor_roles: &[Role],
) -> Result<Transition, EngineError> {
    let action =
        case_type
            .actions
            .get(&request.action)
            .ok_or_else(|| EngineError::UnknownAction {
                action: request.action.clone(),
            })?;

    let from_state = match (current, action.is_creation()) {
        (None, true) => None,
        (None, false) => return Err(EngineError::CreationRequired),
        (Some(_), true) => return Err(EngineError::AlreadyCreated),
        (Some(case), false) => {
            if !action.from.contains(&case.state) {
                return Err(EngineError::WrongState {
                    action: action.id.clone(),
                    state: case.state.clone(),
                });
            }
            Some(case.state.clone())
        }
    };

    let acting_role = action
        .roles
        .iter()
        .copied()
        .find(|r| actor_roles.contains(r))
        .ok_or_else(|| EngineError::RoleNotAllowed {
            action: action.id.clone(),
        })?;

    let before = current.map(|c| c.fields.clone()).unwrap_or_default();
    let fields = merge_fields(case_type, action, &before, &request.fields)?;

    for key in &action.requires {
        if !fields.contains_key(key) {
            return Err(EngineError::MissingField { key: key.clone() });
        }
    }

    let reason = request
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    if let Some(r) = &reason
        && r.chars().count() > MAX_REASON_CHARS
    {
        return Err(EngineError::ReasonTooLong);
    }
    if action.reason == ReasonRule::Required && reason.is_none() {
        return Err(EngineError::ReasonRequired {
            action: action.id.clone(),
        });
    }

    let target_unit = request
        .target_unit
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let target = match (action.target, target_unit) {
        (TargetRule::Choose, Some(unit)) => TargetDecision::Unit(unit.to_owned()),
        (TargetRule::Choose, None) => {
            return Err(EngineError::TargetRequired {
                action: action.id.clone(),
            });
        }
        (_, Some(_)) => {
            return Err(EngineError::TargetNotAllowed {
                action: action.id.clone(),
            });
        }
        (TargetRule::Keep, None) => TargetDecision::Keep,
        (TargetRule::Parent, None) => TargetDecision::Parent,
        (TargetRule::ActorUnit, None) => TargetDecision::ActorUnit,
    };

    let changes = diff(case_type, &before, &fields);

    // Assist effects name the assisting unit; the holder stays.
    let (target, assist_unit) = match (action.effect, target) {
        (Effect::AddAssist | Effect::ReleaseAssist, TargetDecision::Unit(unit)) => {
            (TargetDecision::Keep, Some(unit))
        }
        (_, target) => (target, None),
    };
    // A branch field's value may pick another next state.
    let to_state = action
        .branch
        .as_ref()
        .and_then(|b| {
            let value = fields.get(&b.field)?.as_str()?;
            b.to.get(value).cloned()
        })
        .unwrap_or_else(|| action.to.clone());

    // A self-loop that keeps the case where it is (say, editing fields) must
    // not restart the clock; moving the case to a unit gives it a fresh one.
    let state_changed = from_state.as_deref() != Some(to_state.as_str());
    let restart = state_changed || target != TargetDecision::Keep;
    let leave_deadline = from_state.is_some() && restart;
    let enter_deadline = if restart {
        case_type
            .states
            .get(&to_state)
            .and_then(|s| s.deadline.clone())
    } else {
        None
    };
    // Named clocks follow state changes only: a unit change inside a state
    // keeps them running, as they span the case's whole stage.
    let terminal = case_type.states.get(&to_state).is_some_and(|s| s.terminal);
    let (mut start_clocks, mut stop_clocks) = (Vec::new(), Vec::new());
    if state_changed && from_state.is_some() {
        for clock in case_type.clocks.values() {
            if clock.stops_at(&to_state, terminal) {
                stop_clocks.push(clock.id.clone());
            } else if clock.starts_in.contains(&to_state) {
                start_clocks.push(clock.id.clone());
            }
        }
    }

    Ok(Transition {
        action: action.id.clone(),
        from_state,
        to_state,
        fields,
        changes,
        reason,
        target,
        acting_role,
        leave_deadline,
        enter_deadline,
        start_clocks,
        stop_clocks,
        effect: action.effect,
        assist_unit,
    })
}

/// Applies the submitted fields to `before`, validating each. Keys are handled
/// in sorted order so the first error reported does not depend on map order.
fn merge_fields(
    case_type: &CaseType,
    action: &ActionDef,
    before: &Map<String, Value>,
    submitted: &Map<String, Value>,
) -> Result<Map<String, Value>, EngineError> {
    let mut keys: Vec<&String> = submitted.keys().collect();
    keys.sort();
    let mut fields = before.clone();
    for key in keys {
        let def = case_type
            .fields
            .get(key)
            .ok_or_else(|| EngineError::UnknownField { key: key.clone() })?;
        if !action.may_set(key) {
            return Err(EngineError::FieldNotAllowed {
                key: key.clone(),
                action: action.id.clone(),
            });
        }
        let Some(value) = submitted.get(key) else {
            continue;
        };
        if is_blank(value) {
            fields.remove(key);
            continue;
        }
        let normal = def
            .validate(value)
            .map_err(|reason| EngineError::InvalidField {
                key: key.clone(),
                reason,
            })?;
        fields.insert(key.clone(), normal);
    }
    Ok(fields)
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn diff(
    case_type: &CaseType,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> Vec<FieldChange> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let (b, a) = (before.get(key), after.get(key));
            (b != a).then(|| FieldChange {
                key: key.clone(),
                before: b.cloned(),
                after: a.cloned(),
                // Unknown keys can only come from an older pack version; treat
                // them as personal so nothing leaks by accident.
                personal: case_type.fields.get(key).is_none_or(|f| f.personal),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::{Expiry, PackSet};
    use proptest::prelude::*;
    use serde_json::json;

    const GENERIC: &str = include_str!("../../../packs/generic/pack.toml");

    fn generic() -> CaseType {
        let set = PackSet::from_sources(&[("generic/pack.toml".to_owned(), GENERIC.to_owned())])
            .unwrap_or_else(|e| panic!("{e}"));
        set.case_type("generic", "item").unwrap().clone()
    }

    fn req(action: &str, fields: Value) -> ActionRequest {
        ActionRequest {
            action: action.to_owned(),
            fields: fields.as_object().cloned().unwrap_or_default(),
            reason: None,
            target_unit: None,
        }
    }

    fn case(state: &str) -> CaseSnapshot {
        CaseSnapshot {
            state: state.to_owned(),
            fields: json!({"title": "路灯不亮"}).as_object().cloned().unwrap(),
        }
    }

    fn err(
        ct: &CaseType,
        current: Option<&CaseSnapshot>,
        r: &ActionRequest,
        roles: &[Role],
    ) -> EngineError {
        match decide(ct, current, r, roles) {
            Ok(t) => panic!("expected an error, got {t:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn creation_happy_path() {
        let ct = generic();
        let r = req(
            "create",
            json!({"title": "  路灯不亮 ", "contact_phone": "138 0013 8000", "priority": "urgent", "description": null}),
        );
        let t = decide(
            &ct,
            None,
            &r,
            &[Role::intern("grid_worker"), Role::intern("operator")],
        )
        .unwrap();
        assert_eq!(t.from_state, None);
        assert_eq!(t.to_state, "registered");
        assert_eq!(
            t.acting_role,
            Role::intern("operator"),
            "first in the action's order"
        );
        assert_eq!(t.target, TargetDecision::ActorUnit);
        assert!(!t.leave_deadline);
        let d = t.enter_deadline.unwrap();
        assert_eq!(d.rule.amount, 1);
        assert_eq!(d.on_expiry, Expiry::Warn);
        assert_eq!(t.fields.get("title"), Some(&json!("路灯不亮")));
        assert_eq!(t.fields.get("contact_phone"), Some(&json!("13800138000")));
        assert!(!t.fields.contains_key("description"));
        let keys: Vec<&str> = t.changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["contact_phone", "priority", "title"]);
        assert!(t.changes[0].personal);
        assert!(!t.changes[2].personal);
        assert_eq!(t.changes[2].before, None);
    }

    #[test]
    fn assign_report_and_clear() {
        let ct = generic();
        let mut r = req("assign", json!({"priority": "normal"}));
        r.target_unit = Some(" street_01 ".into());
        let t = decide(
            &ct,
            Some(&case("registered")),
            &r,
            &[Role::intern("dispatcher")],
        )
        .unwrap();
        assert_eq!(t.target, TargetDecision::Unit("street_01".into()));
        assert!(t.leave_deadline);
        assert_eq!(t.enter_deadline.unwrap().on_expiry, Expiry::MarkOverdue);

        let mut current = case("in_progress");
        current.fields.insert("result".into(), json!("old"));
        let t = decide(
            &ct,
            Some(&current),
            &req("report", json!({"result": "已修复"})),
            &[Role::intern("handler")],
        )
        .unwrap();
        assert_eq!(t.changes.len(), 1);
        assert_eq!(t.changes[0].before, Some(json!("old")));
        // Setting the same value again is not a change.
        let t = decide(
            &ct,
            Some(&current),
            &req("report", json!({"result": "old"})),
            &[Role::intern("handler")],
        )
        .unwrap();
        assert!(t.changes.is_empty());
    }

    #[test]
    fn error_codes() {
        let ct = generic();
        let reg = case("registered");
        let ops = [Role::intern("operator")];
        let cases: Vec<(EngineError, &str, Option<&str>)> = vec![
            (
                err(&ct, None, &req("fly", json!({})), &ops),
                "unknown_action",
                None,
            ),
            (
                err(&ct, None, &req("assign", json!({})), &ops),
                "creation_required",
                None,
            ),
            (
                err(&ct, Some(&reg), &req("create", json!({"title": "x"})), &ops),
                "already_created",
                None,
            ),
            (
                err(
                    &ct,
                    Some(&reg),
                    &req("accept", json!({})),
                    &[Role::intern("handler")],
                ),
                "wrong_state",
                None,
            ),
            (
                err(
                    &ct,
                    None,
                    &req("create", json!({"title": "x"})),
                    &[Role::intern("handler")],
                ),
                "role_not_allowed",
                None,
            ),
            (
                err(
                    &ct,
                    None,
                    &req("create", json!({"title": "x", "colour": "red"})),
                    &ops,
                ),
                "unknown_field",
                Some("colour"),
            ),
            (
                err(
                    &ct,
                    None,
                    &req("create", json!({"title": "x", "result": "r"})),
                    &ops,
                ),
                "field_not_allowed",
                Some("result"),
            ),
            (
                err(&ct, None, &req("create", json!({"title": "  "})), &ops),
                "missing_field",
                Some("title"),
            ),
            (
                err(&ct, None, &req("create", json!({"address": "a"})), &ops),
                "missing_field",
                Some("title"),
            ),
            (
                err(
                    &ct,
                    None,
                    &req("create", json!({"title": "x", "priority": "high"})),
                    &ops,
                ),
                "invalid_field",
                Some("priority"),
            ),
            (
                err(
                    &ct,
                    None,
                    &req("create", json!({"title": "x", "contact_phone": "abc"})),
                    &ops,
                ),
                "invalid_field",
                Some("contact_phone"),
            ),
            (
                err(
                    &ct,
                    Some(&reg),
                    &req("void", json!({})),
                    &[Role::intern("dispatcher")],
                ),
                "reason_required",
                None,
            ),
            (
                err(
                    &ct,
                    Some(&reg),
                    &ActionRequest {
                        reason: Some("  ".into()),
                        ..req("void", json!({}))
                    },
                    &[Role::intern("dispatcher")],
                ),
                "reason_required",
                None,
            ),
            (
                err(
                    &ct,
                    Some(&reg),
                    &ActionRequest {
                        reason: Some("长".repeat(2001)),
                        ..req("void", json!({}))
                    },
                    &[Role::intern("dispatcher")],
                ),
                "reason_too_long",
                None,
            ),
            (
                err(
                    &ct,
                    Some(&reg),
                    &req("assign", json!({})),
                    &[Role::intern("dispatcher")],
                ),
                "target_required",
                None,
            ),
            (
                err(
                    &ct,
                    Some(&case("assigned")),
                    &ActionRequest {
                        target_unit: Some("u1".into()),
                        ..req("accept", json!({}))
                    },
                    &[Role::intern("handler")],
                ),
                "target_not_allowed",
                None,
            ),
        ];
        for (e, code, field) in &cases {
            assert_eq!(e.code(), *code, "{e}");
            assert_eq!(e.field(), *field, "{e}");
            assert!(!e.to_string().is_empty());
        }
        // 2000 characters is still fine.
        let ok = ActionRequest {
            reason: Some("长".repeat(2000)),
            ..req("void", json!({}))
        };
        assert!(decide(&ct, Some(&reg), &ok, &[Role::intern("dispatcher")]).is_ok());
    }

    const LOOPS: &str = r#"
id = "loops"
version = "1"
name = "循环"
[types.t]
name = "T"
[types.t.fields.note]
kind = "text"
label = "备注"
[types.t.states.open]
name = "开"
deadline = { amount = 2, unit = "working_hours" }
[types.t.states.done]
name = "完"
terminal = true
[types.t.actions.create]
name = "建"
from = []
to = "open"
roles = ["operator"]
[types.t.actions.edit]
name = "改"
from = ["open"]
to = "open"
roles = ["operator"]
allows = ["note"]
[types.t.actions.move]
name = "转"
from = ["open"]
to = "open"
roles = ["dispatcher"]
target = "choose"
[types.t.actions.finish]
name = "结"
from = ["open"]
to = "done"
roles = ["operator"]
"#;

    #[test]
    fn self_loops_keep_or_restart_the_clock() {
        let set =
            PackSet::from_sources(&[("loops.toml".into(), crate::pack::with_test_roles(LOOPS))])
                .unwrap_or_else(|e| panic!("{e}"));
        let ct = set.case_type("loops", "t").unwrap();
        let open = CaseSnapshot {
            state: "open".into(),
            fields: Map::new(),
        };
        let t = decide(
            ct,
            Some(&open),
            &req("edit", json!({"note": "n"})),
            &[Role::intern("operator")],
        )
        .unwrap();
        assert!(!t.leave_deadline);
        assert!(t.enter_deadline.is_none());
        let mut r = req("move", json!({}));
        r.target_unit = Some("u2".into());
        let t = decide(ct, Some(&open), &r, &[Role::intern("dispatcher")]).unwrap();
        assert!(t.leave_deadline);
        assert!(t.enter_deadline.is_some());
        let t = decide(
            ct,
            Some(&open),
            &req("finish", json!({})),
            &[Role::intern("operator")],
        )
        .unwrap();
        assert!(t.leave_deadline);
        assert!(
            t.enter_deadline.is_none(),
            "terminal states have no deadline"
        );
    }

    // ------------------------------------------------------------ proptest

    #[derive(Debug, Clone)]
    struct Step {
        /// 0: fully random; 1: a plausible request plus random fields;
        /// 2, 3: a plausible request, so walks get past the first states.
        mode: u8,
        action: usize,
        roles: u8,
        fields: Vec<(usize, usize)>,
        reason: usize,
        target: usize,
    }

    const FIELD_KEYS: &[&str] = &[
        "title",
        "description",
        "category",
        "address",
        "contact_name",
        "contact_phone",
        "priority",
        "result",
        "colour",
    ];

    fn value_pool(i: usize) -> Value {
        match i {
            0 => json!("路灯不亮"),
            1 => json!("urgent"),
            2 => json!("normal"),
            3 => json!("13800138000"),
            4 => json!(""),
            5 => Value::Null,
            6 => json!(42),
            7 => json!("x".repeat(300)),
            _ => json!("0755-8888 1234"),
        }
    }

    fn step() -> impl Strategy<Value = Step> {
        (
            0u8..4,
            0usize..10,
            any::<u8>(),
            proptest::collection::vec((0..FIELD_KEYS.len(), 0usize..9), 0..4),
            0usize..3,
            0usize..3,
        )
            .prop_map(|(mode, action, roles, fields, reason, target)| Step {
                mode,
                action,
                roles,
                fields,
                reason,
                target,
            })
    }

    /// The roles the requests pack declares, and admin.
    fn all_roles() -> Vec<Role> {
        let names = [
            "operator",
            "dispatcher",
            "handler",
            "grid_worker",
            "supervisor",
            "admin",
        ];
        names.into_iter().map(Role::intern).collect()
    }

    fn to_request(
        ct: &CaseType,
        current: Option<&CaseSnapshot>,
        s: &Step,
    ) -> (ActionRequest, Vec<Role>) {
        let mut fields = Map::new();
        if s.mode == 0 || s.mode == 1 {
            for (k, v) in &s.fields {
                fields.insert(FIELD_KEYS[*k].to_owned(), value_pool(*v));
            }
        }
        if s.mode > 0 {
            let available: Vec<&ActionDef> = match current {
                None => vec![ct.creation_action()],
                Some(c) => ct.actions_from(&c.state).collect(),
            };
            if let Some(a) = available.get(s.action % available.len().max(1)) {
                for key in &a.requires {
                    fields.entry(key.clone()).or_insert(json!("已处理"));
                }
                let request = ActionRequest {
                    action: a.id.clone(),
                    fields,
                    reason: Some("群众反映".into()),
                    target_unit: (a.target == TargetRule::Choose).then(|| "unit_7".into()),
                };
                return (request, all_roles());
            }
        }
        let names: Vec<&String> = ct.actions.keys().collect();
        let action = names
            .get(s.action)
            .map_or("bogus".to_owned(), |a| (*a).clone());
        let reason = [None, Some("群众反映".to_owned()), Some(" ".to_owned())][s.reason].clone();
        let target_unit = [None, Some("unit_7".to_owned()), Some("".to_owned())][s.target].clone();
        // Bias towards having roles: bit 7 means "all roles".
        let roles = all_roles()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| s.roles & 0x80 != 0 || s.roles & (1 << i) != 0)
            .map(|(_, r)| r)
            .collect();
        (
            ActionRequest {
                action,
                fields,
                reason,
                target_unit,
            },
            roles,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn random_walks_respect_the_workflow(steps in proptest::collection::vec(step(), 1..40)) {
            let ct = generic();
            let mut current: Option<CaseSnapshot> = None;
            for s in &steps {
                let (request, roles) = to_request(&ct, current.as_ref(), s);
                let before = current.clone();
                let result = decide(&ct, current.as_ref(), &request, &roles);
                // Deterministic.
                prop_assert_eq!(&result, &decide(&ct, current.as_ref(), &request, &roles));
                // Pure: the input is untouched either way.
                prop_assert_eq!(&before, &current);
                let Ok(t) = result else { continue };
                let action = &ct.actions[&t.action];
                match (&t.from_state, &current) {
                    (None, None) => prop_assert!(action.is_creation()),
                    (Some(f), Some(c)) => {
                        prop_assert!(action.from.contains(f));
                        prop_assert_eq!(f, &c.state);
                        prop_assert_ne!(c.state.as_str(), "void", "void is terminal and has no way out");
                    }
                    _ => prop_assert!(false, "from_state does not match the snapshot"),
                }
                prop_assert!(ct.states.contains_key(&t.to_state));
                prop_assert!(roles.contains(&t.acting_role));
                for key in &action.requires {
                    prop_assert!(t.fields.contains_key(key));
                }
                for (key, value) in &t.fields {
                    prop_assert!(ct.fields.contains_key(key));
                    prop_assert!(ct.fields[key].validate(value).is_ok());
                }
                // Replaying the changes on the old fields gives the new ones.
                let mut replay = current.as_ref().map(|c| c.fields.clone()).unwrap_or_default();
                for c in &t.changes {
                    match &c.after {
                        Some(v) => { replay.insert(c.key.clone(), v.clone()); }
                        None => { replay.remove(&c.key); }
                    }
                }
                prop_assert_eq!(&replay, &t.fields);
                current = Some(CaseSnapshot { state: t.to_state, fields: t.fields });
            }
        }
    }
}
