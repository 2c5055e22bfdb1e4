//! Routing rules as data: category × place → lead unit (+ assisting units).
//!
//! A rule names a category prefix (optional), an area (optional: the code of
//! a unit in the place's area chain) and a lead (a unit code, or `@street`
//! etc. for that level of the place's own chain, 属地), plus assisting units
//! (吹哨报到). A rule with assisting units and no lead adds them to whatever
//! lead wins. The format and the shipped rules are documented in
//! `packs/requests/README.md`.
//!
//! Precedence, highest first: the longest matching category prefix (a rule
//! without category is the shortest), then the most specific area (deeper in
//! the chain; a rule without area is the least specific), then the smaller
//! rule id. Loading refuses two lead rules (or two assist-only rules) with the
//! same category and area, so the id tie-break only orders rules that cannot
//! both match; it is there so the order is total.
//!
//! When no rule gives a lead, the street office of the place is the lead.
//! With no place (an empty chain: no location, or outside every grid) or no
//! street in the chain the request goes to the manual queue.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::category::{CategorySet, Problem, Problems, SourceRef};
use crate::pack::{MAX_UNIT_CODE_LEN, Names, is_valid_id};
use crate::unit::UnitKind;

/// The shipped rules of the demo city.
pub const BUILTIN_SOURCES: [(&str, &str); 1] = [(
    "packs/requests/data/routing.toml",
    include_str!("../../../packs/requests/data/routing.toml"),
)];

/// Most assisting units one rule may add.
pub const MAX_ASSIST: usize = 16;

/// One unit of a place's area chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AreaRef {
    pub unit_id: String,
    pub code: String,
    pub kind: UnitKind,
}

/// A unit a rule points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Target {
    /// A fixed unit, by code (e.g. a city bureau `YZ-D05`).
    Unit(String),
    /// The unit of this kind in the place's chain (`@street`: 属地).
    Level(UnitKind),
}

impl Target {
    fn parse(text: &str) -> Result<Target, String> {
        if let Some(level) = text.strip_prefix('@') {
            return match UnitKind::parse(level) {
                Some(k) if k != UnitKind::Department => Ok(Target::Level(k)),
                _ => Err(format!(
                    "{text:?}: expected @city, @district, @street, @community or @grid"
                )),
            };
        }
        check_unit_code(text).map(|()| Target::Unit(text.to_owned()))
    }

    /// The unit (code, id if known) in `chain`, if any.
    fn resolve(&self, chain: &[AreaRef]) -> Option<(String, Option<String>)> {
        match self {
            Target::Unit(code) => Some((code.clone(), None)),
            Target::Level(kind) => chain
                .iter()
                .find(|a| a.kind == *kind)
                .map(|a| (a.code.clone(), Some(a.unit_id.clone()))),
        }
    }
}

fn check_unit_code(code: &str) -> Result<(), String> {
    let ok = !code.is_empty()
        && code.len() <= MAX_UNIT_CODE_LEN
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{code:?}: a unit code is 1 to {MAX_UNIT_CODE_LEN} ASCII letters, digits, '-', '_' or '.'"
        ))
    }
}

/// One routing rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub id: String,
    /// Category code prefix; `None` matches every category (and none).
    pub category: Option<String>,
    /// Code of a unit that must be in the place's chain; `None`: anywhere.
    pub area: Option<String>,
    /// `None`: the rule only adds assisting units.
    pub lead: Option<Target>,
    pub assist: Vec<Target>,
    /// Said in the reason after the rule id.
    pub note: Option<Names>,
    pub source: SourceRef,
}

impl Rule {
    fn category_depth(&self) -> usize {
        self.category.as_deref().map_or(0, |c| c.split('.').count())
    }

    /// How specific the matched area is (0: no area); `None`: no match.
    fn area_match(&self, chain: &[AreaRef]) -> Option<usize> {
        match &self.area {
            None => Some(0),
            Some(code) => chain
                .iter()
                .position(|a| &a.code == code)
                .map(|i| chain.len() - i),
        }
    }

    fn category_matches(&self, category: Option<&str>) -> bool {
        match (&self.category, category) {
            (None, _) => true,
            (Some(prefix), Some(code)) => CategorySet::is_under(code, prefix),
            (Some(_), None) => false,
        }
    }
}

/// What routing suggests to the dispatcher, who may override it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RouteDecision {
    Suggested {
        lead_unit_code: String,
        /// Set when the lead came from the place's chain (`@street`, fallback).
        lead_unit_id: Option<String>,
        /// Deduplicated, without the lead, in rule precedence order.
        assist_unit_codes: Vec<String>,
        /// `None` when no rule matched and the street office was taken.
        rule_id: Option<String>,
        reason: Names,
    },
    ManualQueue {
        reason: Names,
    },
}

/// Validated rules, ready to route. Immutable once built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingRules {
    /// Sorted by id.
    rules: Vec<Rule>,
    category_names: BTreeMap<String, Names>,
    version: String,
}

// Raw TOML, read by serde with spans for messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: toml::Spanned<String>,
    category: Option<toml::Spanned<String>>,
    area: Option<toml::Spanned<String>>,
    lead: Option<toml::Spanned<String>>,
    #[serde(default)]
    assist: Vec<toml::Spanned<String>>,
    note: Option<RawNote>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawNote {
    Zh(String),
    Both { zh: String, en: Option<String> },
}

fn line_of(text: &str, span: &Range<usize>) -> usize {
    let end = span.start.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl RoutingRules {
    /// The shipped rules, checked against `categories`.
    pub fn builtin(categories: &CategorySet) -> Result<RoutingRules, Problems> {
        RoutingRules::from_sources(&BUILTIN_SOURCES, categories)
    }

    /// The shipped rules and a city's files after them.
    pub fn with_extensions(
        extra: &[(&str, &str)],
        categories: &CategorySet,
    ) -> Result<RoutingRules, Problems> {
        let mut sources = BUILTIN_SOURCES.to_vec();
        sources.extend_from_slice(extra);
        RoutingRules::from_sources(&sources, categories)
    }

    /// Reads rule files in order. A rule whose id an earlier file used
    /// replaces that rule (this is how a city changes a shipped rule); within
    /// one file ids are unique. Every problem is returned, with file and line.
    pub fn from_sources(
        sources: &[(&str, &str)],
        categories: &CategorySet,
    ) -> Result<RoutingRules, Problems> {
        let mut problems = Vec::new();
        // Rules by id, with (source index, line) to tell which came first.
        let mut by_id: BTreeMap<String, ((usize, usize), Rule)> = BTreeMap::new();
        for (source_index, (file, text)) in sources.iter().enumerate() {
            let mut err = |span: &Range<usize>, message: String| {
                problems.push(Problem {
                    file: (*file).to_owned(),
                    line: line_of(text, span),
                    message,
                })
            };
            let raw: RawFile = match toml::from_str(text) {
                Ok(raw) => raw,
                Err(e) => {
                    let span = e.span().unwrap_or(0..0);
                    err(&span, e.message().to_owned());
                    continue;
                }
            };
            let mut here: BTreeMap<String, usize> = BTreeMap::new();
            for r in raw.rule {
                let id_span = r.id.span();
                let line = line_of(text, &id_span);
                let id = r.id.into_inner();
                let mut ok = true;
                if !is_valid_id(&id) {
                    err(
                        &id_span,
                        format!("rule id {id:?}: use lower-case letters, digits and '_'"),
                    );
                    ok = false;
                }
                if let Some(first) = here.insert(id.clone(), line) {
                    err(
                        &id_span,
                        format!("rule id {id} appears twice in this file (first at line {first})"),
                    );
                    continue;
                }
                let category = r.category.map(|c| {
                    let span = c.span();
                    let code = c.into_inner();
                    if categories.get(&code).is_none() {
                        err(&span, format!("unknown category {code:?}"));
                        ok = false;
                    }
                    code
                });
                let area = r.area.map(|a| {
                    let span = a.span();
                    let code = a.into_inner();
                    if let Err(m) = check_unit_code(&code) {
                        err(&span, format!("area {m}"));
                        ok = false;
                    }
                    code
                });
                let mut targets = Vec::new();
                let lead_given = r.lead.is_some();
                if r.assist.len() > MAX_ASSIST {
                    err(
                        &id_span,
                        format!("rule {id}: at most {MAX_ASSIST} assisting units"),
                    );
                    ok = false;
                }
                for (what, s) in r
                    .lead
                    .into_iter()
                    .map(|l| ("lead", l))
                    .chain(r.assist.into_iter().map(|a| ("assist", a)))
                {
                    match Target::parse(s.get_ref()) {
                        Ok(t) => targets.push(t),
                        Err(m) => {
                            err(&s.span(), format!("{what} {m}"));
                            ok = false;
                        }
                    }
                }
                if !ok {
                    continue;
                }
                let mut targets = targets.into_iter();
                let lead = if lead_given { targets.next() } else { None };
                let assist: Vec<Target> = targets.collect();
                if lead.is_none() && assist.is_empty() {
                    err(
                        &id_span,
                        format!("rule {id} needs a lead, assisting units, or both"),
                    );
                    continue;
                }
                let note = r.note.map(|n| match n {
                    RawNote::Zh(zh) => Names { en: zh.clone(), zh },
                    RawNote::Both { zh, en } => Names {
                        en: en.unwrap_or_else(|| zh.clone()),
                        zh,
                    },
                });
                // A later file's rule with the same id replaces the earlier one.
                let rule = Rule {
                    id: id.clone(),
                    category,
                    area,
                    lead,
                    assist,
                    note,
                    source: SourceRef {
                        file: (*file).to_owned(),
                        line,
                    },
                };
                by_id.insert(id, ((source_index, line), rule));
            }
        }
        // Two rules of the same kind for the same category and area would make
        // the outcome depend on ids; refuse them (report at the later one).
        type Key<'a> = (Option<&'a str>, Option<&'a str>, bool);
        let mut keys: BTreeMap<Key, &((usize, usize), Rule)> = BTreeMap::new();
        let mut clashes = Vec::new();
        for entry in by_id.values() {
            let r = &entry.1;
            let key = (r.category.as_deref(), r.area.as_deref(), r.lead.is_some());
            if let Some(other) = keys.insert(key, entry) {
                let (first, second) = if other.0 <= entry.0 {
                    (&other.1, r)
                } else {
                    (r, &other.1)
                };
                clashes.push(Problem {
                    file: second.source.file.clone(),
                    line: second.source.line,
                    message: format!(
                        "rule {} has the same category and area as rule {} ({}); \
                         use id {} to replace that rule",
                        second.id, first.id, first.source, first.id
                    ),
                });
            }
        }
        problems.extend(clashes);
        if !problems.is_empty() {
            return Err(Problems(problems));
        }
        let rules: Vec<Rule> = by_id.into_values().map(|(_, r)| r).collect();
        let category_names = categories
            .iter()
            .map(|c| (c.code.clone(), c.name.clone()))
            .collect();
        let mut hasher = Sha256::new();
        for r in &rules {
            // JSON of the rule's content (not its source), one line per rule.
            let content = serde_json::json!([r.id, r.category, r.area, r.lead, r.assist, r.note]);
            hasher.update(format!("{content}\n").as_bytes());
        }
        let digest = hex::encode(hasher.finalize());
        Ok(RoutingRules {
            rules,
            category_names,
            version: format!("route-{}", &digest[..16]),
        })
    }

    /// All rules, sorted by id.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules
            .binary_search_by(|r| r.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.rules[i])
    }

    /// A fingerprint of the rules' content: `route-` and 16 hex digits.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Every unit code the rules name (areas, fixed leads and assisting
    /// units), with where it is first named, so the server can check them
    /// against the unit table.
    pub fn unit_codes_referenced(&self) -> BTreeMap<String, SourceRef> {
        let mut out: BTreeMap<String, SourceRef> = BTreeMap::new();
        for r in &self.rules {
            let codes = r
                .area
                .iter()
                .chain(r.lead.iter().chain(&r.assist).filter_map(|t| match t {
                    Target::Unit(code) => Some(code),
                    Target::Level(_) => None,
                }));
            for code in codes {
                out.entry(code.clone()).or_insert_with(|| r.source.clone());
            }
        }
        out
    }

    /// Routes a request of `category` at a place whose area chain is `chain`
    /// (grid first, up to the city). Deterministic.
    pub fn route(&self, category: Option<&str>, chain: &[AreaRef]) -> RouteDecision {
        self.route_with_names(category, chain, &|_| None)
    }

    /// [`route`](Self::route), with unit names (by code) for the reason.
    pub fn route_with_names(
        &self,
        category: Option<&str>,
        chain: &[AreaRef],
        unit_name: &dyn Fn(&str) -> Option<String>,
    ) -> RouteDecision {
        if chain.is_empty() {
            return RouteDecision::ManualQueue {
                reason: Names {
                    zh: "没有地点，或地点不在任何网格内：转人工分拨".into(),
                    en: "No place, or the place is outside every grid: manual queue".into(),
                },
            };
        }
        // Matching rules, best first.
        let mut matching: Vec<(usize, usize, &Rule)> = self
            .rules
            .iter()
            .filter(|r| r.category_matches(category))
            .filter_map(|r| r.area_match(chain).map(|a| (r.category_depth(), a, r)))
            .collect();
        matching.sort_by(precedence);

        let lead = matching.iter().find_map(|&(_, _, r)| {
            let target = r.lead.as_ref()?;
            target
                .resolve(chain)
                .map(|(code, id)| (r, target, code, id))
        });
        let (rule, target, lead_code, lead_id) = match lead {
            Some((r, t, code, id)) => (Some(r), Some(t), code, id),
            None => match chain.iter().find(|a| a.kind == UnitKind::Street) {
                Some(street) => (
                    None,
                    None,
                    street.code.clone(),
                    Some(street.unit_id.clone()),
                ),
                None => {
                    return RouteDecision::ManualQueue {
                        reason: Names {
                            zh: "没有匹配的规则，地点也没有所属街道：转人工分拨".into(),
                            en: "No rule matched and the place has no street office: manual queue"
                                .into(),
                        },
                    };
                }
            },
        };
        // Assisting units: the winning rule's, then every assist-only rule's.
        let mut assist: Vec<String> = Vec::new();
        let mut seen = BTreeSet::from([lead_code.clone()]);
        let sources = rule
            .into_iter()
            .chain(matching.iter().map(|m| m.2).filter(|r| r.lead.is_none()));
        for r in sources {
            for t in &r.assist {
                if let Some((code, _)) = t.resolve(chain)
                    && seen.insert(code.clone())
                {
                    assist.push(code);
                }
            }
        }
        let reason = self.reason(category, rule, target, &lead_code, unit_name);
        RouteDecision::Suggested {
            lead_unit_code: lead_code,
            lead_unit_id: lead_id,
            assist_unit_codes: assist,
            rule_id: rule.map(|r| r.id.clone()),
            reason,
        }
    }

    fn category_label(&self, code: &str) -> (String, String) {
        match self.category_names.get(code) {
            Some(n) => (format!("{code} {}", n.zh), format!("{code} {}", n.en)),
            None => (code.to_owned(), code.to_owned()),
        }
    }

    fn reason(
        &self,
        category: Option<&str>,
        rule: Option<&Rule>,
        target: Option<&Target>,
        lead_code: &str,
        unit_name: &dyn Fn(&str) -> Option<String>,
    ) -> Names {
        let (mut zh, mut en) = match category {
            Some(code) => {
                let (z, e) = self.category_label(code);
                (format!("类别 {z}"), format!("Category {e}"))
            }
            None => ("未定类别".to_owned(), "No category".to_owned()),
        };
        let named = |code: &str| match unit_name(code) {
            Some(name) => format!("{code} {name}"),
            None => code.to_owned(),
        };
        let Some(rule) = rule else {
            let unit = named(lead_code);
            let _ = write!(zh, "，没有匹配的规则 → 属地街道 {unit}");
            let _ = write!(en, ", no rule matched → the local street office {unit}");
            return Names { zh, en };
        };
        if let (Some(prefix), Some(code)) = (rule.category.as_deref(), category)
            && prefix != code
        {
            let (z, e) = self.category_label(prefix);
            let _ = write!(zh, "，属于 {z}");
            let _ = write!(en, ", under {e}");
        }
        if let Some(area) = &rule.area {
            let name = named(area);
            let _ = write!(zh, "，地点在 {name}");
            let _ = write!(en, ", place in {name}");
        }
        let unit = named(lead_code);
        match target {
            Some(Target::Level(kind)) => {
                let (lz, le) = level_names(*kind);
                let _ = write!(zh, " → 所在{lz} {unit}");
                let _ = write!(en, " → the place's {le} {unit}");
            }
            _ => {
                let _ = write!(zh, " → {unit}");
                let _ = write!(en, " → {unit}");
            }
        }
        let _ = write!(zh, "（规则 {}", rule.id);
        let _ = write!(en, " (rule {}", rule.id);
        if let Some(note) = &rule.note {
            let _ = write!(zh, "：{}", note.zh);
            let _ = write!(en, ": {}", note.en);
        }
        zh.push('）');
        en.push(')');
        Names { zh, en }
    }
}

fn level_names(kind: UnitKind) -> (&'static str, &'static str) {
    match kind {
        UnitKind::City => ("市", "city"),
        UnitKind::District => ("区", "district"),
        UnitKind::Street => ("街道", "street office"),
        UnitKind::Community => ("社区", "community"),
        UnitKind::Grid => ("网格", "grid"),
        UnitKind::Department => ("部门", "department"),
    }
}

/// Best first: longer category prefix, then more specific area, then smaller id.
fn precedence(x: &(usize, usize, &Rule), y: &(usize, usize, &Rule)) -> Ordering {
    y.0.cmp(&x.0)
        .then(y.1.cmp(&x.1))
        .then_with(|| x.2.id.cmp(&y.2.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The chain grid → … → city of a demo-style grid code `YZ-01-02-03-04`
    /// (or of a shorter code: the chain starts at that level).
    fn chain(code: &str) -> Vec<AreaRef> {
        let kinds = [
            UnitKind::City,
            UnitKind::District,
            UnitKind::Street,
            UnitKind::Community,
            UnitKind::Grid,
        ];
        let parts: Vec<&str> = code.split('-').collect();
        (1..=parts.len())
            .rev()
            .map(|n| {
                let code = parts[..n].join("-");
                AreaRef {
                    unit_id: format!("u-{code}"),
                    code,
                    kind: kinds[n - 1],
                }
            })
            .collect()
    }

    fn shipped() -> (CategorySet, RoutingRules) {
        let cats = CategorySet::builtin();
        let rules = RoutingRules::builtin(&cats).unwrap();
        (cats, rules)
    }

    fn custom(text: &str) -> RoutingRules {
        RoutingRules::from_sources(&[("t.toml", text)], &CategorySet::builtin()).unwrap()
    }

    fn lead(d: &RouteDecision) -> (&str, Option<&str>) {
        match d {
            RouteDecision::Suggested {
                lead_unit_code,
                rule_id,
                ..
            } => (lead_unit_code, rule_id.as_deref()),
            RouteDecision::ManualQueue { reason } => panic!("manual queue: {}", reason.en),
        }
    }

    fn assists(d: &RouteDecision) -> Vec<&str> {
        match d {
            RouteDecision::Suggested {
                assist_unit_codes, ..
            } => assist_unit_codes.iter().map(String::as_str).collect(),
            RouteDecision::ManualQueue { .. } => Vec::new(),
        }
    }

    const GRID: &str = "YZ-01-02-03-04";

    #[test]
    fn shipped_rules_cover_every_first_level_category() {
        let (cats, rules) = shipped();
        for root in cats.roots() {
            assert!(
                rules.rules().iter().any(|r| r.lead.is_some()
                    && r.category
                        .as_deref()
                        .is_some_and(|c| CategorySet::is_under(c, &root.code))),
                "no rule for {} {}",
                root.code,
                root.name.zh
            );
        }
        for r in rules.rules() {
            if let Some(c) = &r.category {
                assert!(cats.get(c).is_some(), "{} names {c}", r.id);
            }
        }
        // Every first-level category routes somewhere in every district.
        for root in cats.roots() {
            for d in 1..=4 {
                let d = rules.route(Some(&root.code), &chain(&format!("YZ-0{d}-01-01-01")));
                assert!(matches!(d, RouteDecision::Suggested { .. }));
            }
        }
        assert!(rules.version().starts_with("route-"));
    }

    #[test]
    fn kind_a_category_to_fixed_unit() {
        let (_, rules) = shipped();
        let d = rules.route(Some("R15.03.01"), &chain(GRID));
        assert_eq!(lead(&d), ("YZ-D05", Some("labour")));
        let RouteDecision::Suggested {
            reason,
            lead_unit_id,
            ..
        } = &d
        else {
            unreachable!()
        };
        assert_eq!(*lead_unit_id, None);
        assert!(
            reason.zh.contains("属于 R15 劳动和社会保障"),
            "{}",
            reason.zh
        );
        assert!(
            reason.zh.ends_with("→ YZ-D05（规则 labour）"),
            "{}",
            reason.zh
        );
        assert!(
            reason.en.contains("Labour and social security"),
            "{}",
            reason.en
        );
        // A more specific category rule beats its parent's.
        assert_eq!(
            lead(&rules.route(Some("R12.04"), &chain(GRID))),
            ("YZ-D06", Some("food_drug"))
        );
        assert_eq!(
            lead(&rules.route(Some("R12.01"), &chain(GRID))),
            ("YZ-D09", Some("health"))
        );
    }

    #[test]
    fn kind_b_category_and_area_to_unit() {
        let (_, rules) = shipped();
        let d = rules.route(Some("E01.02"), &chain(GRID));
        assert_eq!(lead(&d), ("YZ-01-D01", Some("appearance_yz01")));
        let d = rules.route(Some("E01.02"), &chain("YZ-03-01-02-01"));
        assert_eq!(lead(&d), ("YZ-03-D01", Some("appearance_yz03")));
        let named = rules.route_with_names(Some("E01.02"), &chain(GRID), &|code| {
            (code == "YZ-01").then(|| "东湖区".to_owned())
        });
        let RouteDecision::Suggested { reason, .. } = named else {
            unreachable!()
        };
        assert!(reason.zh.contains("地点在 YZ-01 东湖区"), "{}", reason.zh);
    }

    #[test]
    fn kind_c_level_of_the_place() {
        let (_, rules) = shipped();
        let d = rules.route(Some("R09.03.01"), &chain(GRID));
        assert_eq!(lead(&d), ("YZ-01-02", Some("community_building")));
        let RouteDecision::Suggested {
            lead_unit_id,
            reason,
            ..
        } = &d
        else {
            unreachable!()
        };
        assert_eq!(lead_unit_id.as_deref(), Some("u-YZ-01-02"));
        assert!(reason.zh.contains("→ 所在街道 YZ-01-02"), "{}", reason.zh);
        // Other levels work the same way.
        let rules = custom(
            "[[rule]]\nid = \"c\"\ncategory = \"R09\"\nlead = \"@community\"\n\
             [[rule]]\nid = \"d\"\ncategory = \"R10\"\nlead = \"@district\"\n",
        );
        assert_eq!(
            lead(&rules.route(Some("R09"), &chain(GRID))).0,
            "YZ-01-02-03"
        );
        assert_eq!(lead(&rules.route(Some("R10"), &chain(GRID))).0, "YZ-01");
        // A level missing from the chain makes the rule not apply.
        let short = chain("YZ-01-02");
        assert_eq!(lead(&rules.route(Some("R09"), &short)), ("YZ-01-02", None));
    }

    #[test]
    fn kind_d_assisting_units() {
        let (_, rules) = shipped();
        // On the winning rule, with a level target.
        let d = rules.route(Some("R04.02"), &chain(GRID));
        assert_eq!(lead(&d), ("YZ-D03", Some("pollution")));
        assert_eq!(assists(&d), ["YZ-01-02"]);
        // From an assist-only rule, added to another rule's lead.
        let d = rules.route(Some("E03.02"), &chain("YZ-02-01-01-01"));
        assert_eq!(lead(&d), ("YZ-02-D02", Some("construction_sites_yz02")));
        assert_eq!(assists(&d), ["YZ-D03"]);
        // Both, in precedence order: the lead rule's first.
        let d = rules.route(Some("E01.01"), &chain("YZ-02-01-01-01"));
        assert_eq!(lead(&d), ("YZ-02-01", Some("unauthorised_building")));
        assert_eq!(assists(&d), ["YZ-02-D01"]);
        let d = rules.route(Some("E04.03"), &chain(GRID));
        assert_eq!(assists(&d), ["YZ-D16", "YZ-01-02"]);
        // The lead is never also an assistant.
        let rules = custom(
            "[[rule]]\nid = \"a\"\ncategory = \"R09\"\nlead = \"@street\"\nassist = [\"@street\", \"YZ-D10\", \"YZ-D10\"]\n",
        );
        assert_eq!(assists(&rules.route(Some("R09"), &chain(GRID))), ["YZ-D10"]);
    }

    #[test]
    fn kind_e_fallback_is_the_street_office() {
        let rules = custom("[[rule]]\nid = \"labour\"\ncategory = \"R15\"\nlead = \"YZ-D05\"\n");
        let d = rules.route(Some("R01.01"), &chain(GRID));
        assert_eq!(lead(&d), ("YZ-01-02", None));
        let RouteDecision::Suggested { reason, .. } = &d else {
            unreachable!()
        };
        assert!(
            reason.zh.contains("没有匹配的规则 → 属地街道 YZ-01-02"),
            "{}",
            reason.zh
        );
        // No category: only rules without category could match.
        let (_, shipped) = shipped();
        assert_eq!(lead(&shipped.route(None, &chain(GRID))), ("YZ-01-02", None));
        // An unknown category code routes like any code, by prefix.
        assert_eq!(
            lead(&shipped.route(Some("R15.99"), &chain(GRID))).0,
            "YZ-D05"
        );
    }

    #[test]
    fn no_place_goes_to_the_manual_queue() {
        let (_, rules) = shipped();
        for category in [None, Some("R15"), Some("E04.03")] {
            assert!(matches!(
                rules.route(category, &[]),
                RouteDecision::ManualQueue { .. }
            ));
        }
        // A chain without a street office and no rule: manual too.
        let city_only = chain("YZ-01");
        assert!(matches!(
            rules.route(Some("E05.01"), &city_only),
            RouteDecision::ManualQueue { .. }
        ));
        // But a fixed-unit rule still routes it.
        assert_eq!(lead(&rules.route(Some("R15"), &city_only)).0, "YZ-D05");
    }

    #[test]
    fn precedence_category_then_area_then_id() {
        let rules = custom(
            "[[rule]]\nid = \"city\"\ncategory = \"R01\"\nlead = \"X\"\n\
             [[rule]]\nid = \"district\"\ncategory = \"R01\"\narea = \"YZ-01\"\nlead = \"Y\"\n\
             [[rule]]\nid = \"street\"\ncategory = \"R01\"\narea = \"YZ-01-02\"\nlead = \"Z\"\n\
             [[rule]]\nid = \"deeper\"\ncategory = \"R01.02\"\nlead = \"W\"\n\
             [[rule]]\nid = \"anything\"\narea = \"YZ-01-02-03-04\"\nlead = \"V\"\n",
        );
        // Most specific area wins among equal categories.
        assert_eq!(lead(&rules.route(Some("R01.01"), &chain(GRID))).0, "Z");
        assert_eq!(
            lead(&rules.route(Some("R01.01"), &chain("YZ-01-03-01-01"))).0,
            "Y"
        );
        assert_eq!(
            lead(&rules.route(Some("R01.01"), &chain("YZ-02-01-01-01"))).0,
            "X"
        );
        // A longer category prefix beats any area.
        assert_eq!(lead(&rules.route(Some("R01.02.05"), &chain(GRID))).0, "W");
        // A category rule beats a rule without category, however deep its area.
        assert_eq!(lead(&rules.route(Some("R01"), &chain(GRID))).0, "Z");
        assert_eq!(lead(&rules.route(Some("R02"), &chain(GRID))).0, "V");
        assert_eq!(lead(&rules.route(None, &chain(GRID))).0, "V");
        // Equal specificity: the smaller id first (only reachable with a chain
        // that repeats a code, which real chains never do).
        let rules = custom(
            "[[rule]]\nid = \"b\"\ncategory = \"R01\"\narea = \"Q\"\nlead = \"B\"\n\
             [[rule]]\nid = \"a\"\ncategory = \"R01\"\narea = \"P\"\nlead = \"A\"\n",
        );
        let odd = |first: &str, second: &str| {
            [first, second]
                .iter()
                .map(|c| AreaRef {
                    unit_id: format!("u-{c}"),
                    code: (*c).to_owned(),
                    kind: UnitKind::Street,
                })
                .collect::<Vec<_>>()
        };
        // Area specificity is by chain position: P deeper than Q wins...
        assert_eq!(lead(&rules.route(Some("R01"), &odd("P", "Q"))).0, "A");
        assert_eq!(lead(&rules.route(Some("R01"), &odd("Q", "P"))).0, "B");
        // ...and equal rank falls back to id order.
        let mut cmp_rules = rules.rules().iter().map(|r| (1, 1, r)).collect::<Vec<_>>();
        cmp_rules.sort_by(precedence);
        assert_eq!(cmp_rules[0].2.id, "a");
    }

    #[test]
    fn same_category_and_area_twice_is_refused() {
        let cats = CategorySet::builtin();
        let err = RoutingRules::from_sources(
            &[
                (
                    "a.toml",
                    "[[rule]]\nid = \"one\"\ncategory = \"R01\"\nlead = \"X\"\n",
                ),
                (
                    "b.toml",
                    "[[rule]]\nid = \"two\"\ncategory = \"R01\"\nlead = \"Y\"\n\
                     [[rule]]\nid = \"three\"\ncategory = \"R01\"\nassist = [\"Z\"]\n",
                ),
            ],
            &cats,
        )
        .unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!((err.0[0].file.as_str(), err.0[0].line), ("b.toml", 2));
        assert!(
            err.0[0]
                .message
                .contains("same category and area as rule one (a.toml:2)")
        );
    }

    #[test]
    fn a_city_replaces_a_shipped_rule_by_id() {
        let cats = CategorySet::builtin();
        let rules = RoutingRules::with_extensions(
            &[(
                "yz.toml",
                "[[rule]]\nid = \"labour\"\ncategory = \"R15\"\nlead = \"YZ-D15\"\n",
            )],
            &cats,
        )
        .unwrap();
        assert_eq!(
            lead(&rules.route(Some("R15"), &chain(GRID))),
            ("YZ-D15", Some("labour"))
        );
        assert_eq!(rules.get("labour").unwrap().source.file, "yz.toml");
        assert_ne!(rules.version(), shipped().1.version());
    }

    #[test]
    fn problems_carry_file_and_line() {
        let cats = CategorySet::builtin();
        let text = "[[rule]]\nid = \"ok\"\ncategory = \"R01\"\nlead = \"X\"\n\
                    [[rule]]\nid = \"unknown\"\ncategory = \"R99\"\nlead = \"X\"\n\
                    [[rule]]\nid = \"Bad-Id\"\nlead = \"X\"\n\
                    [[rule]]\nid = \"lead\"\ncategory = \"R02\"\nlead = \"@office\"\n\
                    [[rule]]\nid = \"empty\"\ncategory = \"R03\"\n\
                    [[rule]]\nid = \"ok\"\ncategory = \"R04\"\nlead = \"X\"\n\
                    [[rule]]\nid = \"space\"\ncategory = \"R05\"\nlead = \"Y Z\"\n";
        let err = RoutingRules::from_sources(&[("r.toml", text)], &cats).unwrap_err();
        let got: Vec<(usize, &str)> = err.0.iter().map(|p| (p.line, p.message.as_str())).collect();
        assert_eq!(got.len(), 6, "{err}");
        assert_eq!(got[0].0, 7);
        assert!(got[0].1.contains("unknown category \"R99\""));
        assert_eq!(got[1].0, 10);
        assert_eq!(got[2].0, 15);
        assert!(got[2].1.contains("@office"));
        assert_eq!(got[3].0, 17);
        assert!(got[3].1.contains("needs a lead"));
        assert_eq!(got[4].0, 20);
        assert!(got[4].1.contains("first at line 2"));
        assert_eq!(got[5].0, 26);
        // Syntax and shape errors stop at the first, with its line.
        let err = RoutingRules::from_sources(
            &[("s.toml", "[[rule]]\nid = \"x\"\nleed = \"X\"\n")],
            &cats,
        )
        .unwrap_err();
        assert_eq!(err.0[0].line, 3, "{err}");
        assert!(err.0[0].message.contains("leed"), "{err}");
        let err = RoutingRules::from_sources(&[("s.toml", "\n\n[[rule]\n")], &cats).unwrap_err();
        assert_eq!(err.0[0].line, 3, "{err}");
    }

    #[test]
    fn unit_codes_are_listed_for_the_server() {
        let (_, rules) = shipped();
        let codes = rules.unit_codes_referenced();
        for code in ["YZ-D05", "YZ-D16", "YZ-01", "YZ-04-D02", "YZ-02-D01"] {
            assert!(codes.contains_key(code), "{code}");
        }
        assert!(codes.keys().all(|c| !c.starts_with('@')));
        assert!(codes["YZ-D05"].file.ends_with("routing.toml"));
    }

    proptest! {
        #[test]
        fn route_is_deterministic_and_lands_somewhere_known(
            cat in prop::option::of(0usize..800),
            d in 1u8..=5, s in 1u8..=3, c in 1u8..=5, g in 1u8..=5,
            depth in 0usize..=5,
        ) {
            let (cats, rules) = shipped();
            let all: Vec<&str> = cats.iter().map(|c| c.code.as_str()).collect();
            let category = cat.map(|i| all[i % all.len()]);
            let full = chain(&format!("YZ-{d:02}-{s:02}-{c:02}-{g:02}"));
            let chain = &full[full.len() - depth..];
            let first = rules.route(category, chain);
            prop_assert_eq!(&first, &rules.route(category, chain));
            let fixed: BTreeSet<&str> = rules
                .rules()
                .iter()
                .filter_map(|r| match &r.lead {
                    Some(Target::Unit(code)) => Some(code.as_str()),
                    _ => None,
                })
                .collect();
            match &first {
                RouteDecision::Suggested { lead_unit_code, rule_id, assist_unit_codes, .. } => {
                    prop_assert!(!chain.is_empty());
                    let in_chain = chain.iter().any(|a| &a.code == lead_unit_code);
                    prop_assert!(fixed.contains(lead_unit_code.as_str()) || in_chain);
                    if rule_id.is_none() {
                        prop_assert!(chain.iter().any(|a| a.kind == UnitKind::Street && &a.code == lead_unit_code));
                    }
                    prop_assert!(!assist_unit_codes.contains(lead_unit_code));
                }
                RouteDecision::ManualQueue { .. } => {
                    prop_assert!(chain.is_empty() || !chain.iter().any(|a| a.kind == UnitKind::Street));
                }
            }
        }
    }
}
