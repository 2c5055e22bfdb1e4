//! Category taxonomies (分类) as data: citizen requests (`R…`, three levels)
//! and urban management events and components (`E…` / `C…`, two levels), each
//! category with stable code, names, urgency and default deadlines.
//!
//! Codes are written into the shipped files (`packs/requests/data/*.csv`), so
//! adding categories never renumbers existing ones. A city extends the
//! taxonomies with files of the same format loaded after the built-in ones:
//! new codes are added, existing codes may get new deadlines, urgency or
//! English name, but never a new Chinese name (that would silently change what
//! a code means). The format is documented in `packs/requests/README.md`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use crate::category_code::{
    DISPATCH_TIME, HANDLING_TIME, MAX_CODE_LEN, MAX_LEVEL, is_valid_code,
};
use crate::demo::parse_csv;
use crate::duration::{DurationRule, DurationUnit};
use crate::pack::{MAX_DEADLINE_AMOUNT, Names};

/// The shipped taxonomies: (file name for messages, text).
pub const BUILTIN_SOURCES: [(&str, &str); 2] = [
    (
        "packs/requests/data/categories-requests.csv",
        include_str!("../../../packs/requests/data/categories-requests.csv"),
    ),
    (
        "packs/requests/data/categories-urban.csv",
        include_str!("../../../packs/requests/data/categories-urban.csv"),
    ),
];

/// The header every category file starts with (after comments).
pub const HEADER: [&str; 6] = [
    "code",
    "name_zh",
    "name_en",
    "urgency",
    DISPATCH_TIME,
    HANDLING_TIME,
];

/// Dispatch deadline of an urgent category: 1 hour, round the clock.
pub const URGENT_DISPATCH: DurationRule = DurationRule {
    amount: 1,
    unit: DurationUnit::CalendarHours,
};
/// Dispatch deadline of a general category: 24 hours, round the clock.
pub const GENERAL_DISPATCH: DurationRule = DurationRule {
    amount: 24,
    unit: DurationUnit::CalendarHours,
};
/// Handling deadline when neither a category nor any ancestor sets one.
pub const DEFAULT_HANDLING: DurationRule = DurationRule {
    amount: 15,
    unit: DurationUnit::WorkingDays,
};

/// How fast a category must be dispatched (紧急 / 一般).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Urgent,
    General,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Urgent => "urgent",
            Urgency::General => "general",
        }
    }

    pub fn parse(text: &str) -> Option<Urgency> {
        match text {
            "urgent" => Some(Urgency::Urgent),
            "general" => Some(Urgency::General),
            _ => None,
        }
    }

    /// The default dispatch deadline: urgent 1 hour, general 24 hours.
    pub fn default_dispatch(self) -> DurationRule {
        match self {
            Urgency::Urgent => URGENT_DISPATCH,
            Urgency::General => GENERAL_DISPATCH,
        }
    }
}

/// The taxonomy sets the dispatch and handling deadlines of the packs' states
/// that ask for them. A case whose urgency differs from its category's default
/// is dispatched on its own urgency's clock.
impl crate::pack::CategoryDeadlines for CategorySet {
    fn deadline(&self, category: &str, kind: &str, urgency: Option<&str>) -> Option<DurationRule> {
        let c = self.get(category)?;
        match kind {
            DISPATCH_TIME => Some(match urgency.and_then(Urgency::parse) {
                Some(u) if u != c.urgency => u.default_dispatch(),
                _ => c.dispatch,
            }),
            HANDLING_TIME => Some(c.handling),
            _ => None,
        }
    }

    fn knows(&self, code: &str) -> bool {
        self.get(code).is_some()
    }
}

/// Where a piece of data came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceRef {
    pub file: String,
    /// 1-based.
    pub line: usize,
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One problem in a category or routing file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Every problem found, one per line when displayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct Problems(pub Vec<Problem>);

/// A category with its effective (own or inherited) urgency and deadlines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Category {
    /// `R01`, `R01.02`, `E04.03`: the parent's code, a dot, a segment.
    pub code: String,
    pub parent: Option<String>,
    /// 1 for a first-level category.
    pub level: usize,
    pub name: Names,
    pub urgency: Urgency,
    /// Time allowed to dispatch a new request to a lead unit.
    pub dispatch: DurationRule,
    /// Time allowed to the lead unit to handle it.
    pub handling: DurationRule,
    /// Where the category was defined.
    pub source: SourceRef,
    #[serde(skip)]
    own: Own,
}

/// What a category's rows said themselves (the last override wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Own {
    urgency: Option<Urgency>,
    dispatch: Option<DurationRule>,
    handling: Option<DurationRule>,
}

/// One or more taxonomies, merged. Immutable once built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategorySet {
    /// In definition order, which is code order in the shipped files.
    items: Vec<Category>,
    index: BTreeMap<String, usize>,
    children: BTreeMap<String, Vec<usize>>,
    roots: Vec<usize>,
    version: String,
}

impl CategorySet {
    /// The shipped taxonomies.
    pub fn builtin() -> CategorySet {
        // The shipped files are checked by the tests below, so this cannot fail.
        CategorySet::from_sources(&BUILTIN_SOURCES).expect("shipped category files are valid")
    }

    /// The shipped taxonomies extended by a city's files, in order.
    pub fn with_extensions(extra: &[(&str, &str)]) -> Result<CategorySet, Problems> {
        let mut sources: Vec<(&str, &str)> = BUILTIN_SOURCES.to_vec();
        sources.extend_from_slice(extra);
        CategorySet::from_sources(&sources)
    }

    /// Reads category files `(file name, text)` in order, each later file
    /// extending the earlier ones. All problems are returned together.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<CategorySet, Problems> {
        let mut b = Builder::default();
        for (file, text) in sources {
            b.source(file, text);
        }
        b.finish()
    }

    pub fn get(&self, code: &str) -> Option<&Category> {
        self.index.get(code).map(|&i| &self.items[i])
    }

    /// All categories in definition order (parents before children).
    pub fn iter(&self) -> impl Iterator<Item = &Category> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// First-level categories of every taxonomy, in definition order.
    pub fn roots(&self) -> Vec<&Category> {
        self.roots.iter().map(|&i| &self.items[i]).collect()
    }

    /// Direct children, in definition order; empty for a leaf or unknown code.
    pub fn children(&self, code: &str) -> Vec<&Category> {
        self.children
            .get(code)
            .map(|v| v.iter().map(|&i| &self.items[i]).collect())
            .unwrap_or_default()
    }

    /// The category and its ancestors, first level first; empty if unknown.
    pub fn path(&self, code: &str) -> Vec<&Category> {
        let mut out = Vec::new();
        let mut next = self.get(code);
        while let Some(c) = next {
            out.push(c);
            next = c.parent.as_deref().and_then(|p| self.get(p));
        }
        out.reverse();
        out
    }

    /// The path's Chinese names joined by ` / `, e.g. `城乡建设 / 安全生产`.
    pub fn path_name(&self, code: &str) -> Option<String> {
        let path = self.path(code);
        (!path.is_empty()).then(|| {
            path.iter()
                .map(|c| c.name.zh.as_str())
                .collect::<Vec<_>>()
                .join(" / ")
        })
    }

    /// Categories for a searchable picker: the query (trimmed) as a substring
    /// of the Chinese name, of the English name ignoring case, or as a code
    /// prefix. Definition order; empty query, no result.
    pub fn search(&self, query: &str) -> Vec<&Category> {
        let q = query.trim();
        if q.is_empty() {
            return Vec::new();
        }
        let lower = q.to_lowercase();
        let upper = q.to_uppercase();
        self.items
            .iter()
            .filter(|c| {
                c.name.zh.contains(q)
                    || c.name.en.to_lowercase().contains(&lower)
                    || c.code.starts_with(&upper)
            })
            .collect()
    }

    /// A fingerprint of the content (codes, names, urgency, deadlines), not of
    /// file names or layout: `cat-` and 16 hex digits of a SHA-256.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether `code` is `prefix` or lies below it (`R01.02` is under `R01`,
    /// `R010` is not).
    pub fn is_under(code: &str, prefix: &str) -> bool {
        code == prefix
            || code
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

/// The leading letters of a code, which name its taxonomy (`R`, `E`, `C`).
fn family(code: &str) -> &str {
    let end = code
        .find(|c: char| !c.is_ascii_uppercase())
        .unwrap_or(code.len());
    &code[..end]
}

fn parent_code(code: &str) -> Option<&str> {
    code.rsplit_once('.').map(|(p, _)| p)
}

#[derive(Default)]
struct Builder {
    items: Vec<Category>,
    index: BTreeMap<String, usize>,
    problems: Vec<Problem>,
}

impl Builder {
    fn err(&mut self, file: &str, line: usize, message: impl Into<String>) {
        self.problems.push(Problem {
            file: file.to_owned(),
            line,
            message: message.into(),
        });
    }

    fn source(&mut self, file: &str, text: &str) {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut header_seen = false;
        // Codes defined or overridden in this file, with their line.
        let mut seen_here: BTreeMap<String, usize> = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            // One record per line: names never contain line breaks, and this
            // keeps line numbers exact.
            let fields = match parse_csv(raw) {
                Ok(mut rows) if rows.len() == 1 => rows.remove(0),
                Ok(_) => {
                    self.err(file, line, "expected one record on this line");
                    continue;
                }
                Err(e) => {
                    self.err(file, line, format!("bad CSV: {e}"));
                    continue;
                }
            };
            let fields: Vec<&str> = fields.iter().map(|f| f.trim()).collect();
            if !header_seen {
                header_seen = true;
                if fields != HEADER {
                    self.err(
                        file,
                        line,
                        format!("the first line must be the header {}", HEADER.join(",")),
                    );
                    return;
                }
                continue;
            }
            if fields.len() != HEADER.len() {
                self.err(
                    file,
                    line,
                    format!(
                        "expected {} fields ({}), found {}",
                        HEADER.len(),
                        HEADER.join(","),
                        fields.len()
                    ),
                );
                continue;
            }
            self.row(file, line, &fields, &mut seen_here);
        }
        if !header_seen {
            self.err(file, 1, "empty file: no header");
        }
    }

    fn row(
        &mut self,
        file: &str,
        line: usize,
        f: &[&str],
        seen_here: &mut BTreeMap<String, usize>,
    ) {
        let (code, zh, en) = (f[0], f[1], f[2]);
        if !is_valid_code(code) {
            self.err(
                file,
                line,
                format!("bad code {code:?}: expected e.g. R01, R01.02 or E04.10"),
            );
            return;
        }
        if let Some(first) = seen_here.get(code) {
            self.err(
                file,
                line,
                format!("code {code} appears twice in this file (first at line {first})"),
            );
            return;
        }
        seen_here.insert(code.to_owned(), line);

        let mut ok = true;
        let urgency = match f[3] {
            "" => None,
            u => {
                let parsed = Urgency::parse(u);
                if parsed.is_none() {
                    self.err(
                        file,
                        line,
                        format!("urgency {u:?}: expected urgent, general or nothing"),
                    );
                    ok = false;
                }
                parsed
            }
        };
        let dispatch = self.duration(file, line, DISPATCH_TIME, f[4], &mut ok);
        let handling = self.duration(file, line, HANDLING_TIME, f[5], &mut ok);

        if let Some(&i) = self.index.get(code) {
            // An override of a category from an earlier file.
            let existing = &self.items[i];
            if !zh.is_empty() && zh != existing.name.zh {
                let msg = format!(
                    "code {code} is already {} ({}); a code never changes its meaning, \
                     give the new category a new code",
                    existing.name.zh, existing.source
                );
                self.err(file, line, msg);
                return;
            }
            if !ok {
                return;
            }
            let c = &mut self.items[i];
            if !en.is_empty() {
                c.name.en = en.to_owned();
            }
            c.own.urgency = urgency.or(c.own.urgency);
            c.own.dispatch = dispatch.or(c.own.dispatch);
            c.own.handling = handling.or(c.own.handling);
            return;
        }

        if zh.is_empty() {
            self.err(file, line, format!("new category {code} needs a name_zh"));
            return;
        }
        let parent = parent_code(code);
        if let Some(p) = parent
            && !self.index.contains_key(p)
        {
            self.err(
                file,
                line,
                format!("parent {p} of {code} is not defined (define parents first)"),
            );
            return;
        }
        // The same name under the same parent with another code is almost
        // surely a renumbering, which would split history across two codes.
        // First levels compare within one taxonomy (code letters): events and
        // components may both have 市容环境.
        if let Some(twin) = self.items.iter().find(|c| {
            c.parent.as_deref() == parent && c.name.zh == zh && family(&c.code) == family(code)
        }) {
            let msg = format!(
                "{zh} already exists here as {} ({}); codes are never renumbered, \
                 override {} instead",
                twin.code, twin.source, twin.code
            );
            self.err(file, line, msg);
            return;
        }
        if !ok {
            return;
        }
        let level = code.split('.').count();
        self.index.insert(code.to_owned(), self.items.len());
        self.items.push(Category {
            code: code.to_owned(),
            parent: parent.map(str::to_owned),
            level,
            name: Names {
                zh: zh.to_owned(),
                en: if en.is_empty() { zh } else { en }.to_owned(),
            },
            urgency: Urgency::General,
            dispatch: GENERAL_DISPATCH,
            handling: DEFAULT_HANDLING,
            source: SourceRef {
                file: file.to_owned(),
                line,
            },
            own: Own {
                urgency,
                dispatch,
                handling,
            },
        });
    }

    fn duration(
        &mut self,
        file: &str,
        line: usize,
        column: &str,
        text: &str,
        ok: &mut bool,
    ) -> Option<DurationRule> {
        if text.is_empty() {
            return None;
        }
        match text.parse::<DurationRule>() {
            Ok(r) if r.amount > 0 && r.amount <= MAX_DEADLINE_AMOUNT => Some(r),
            Ok(_) => {
                self.err(
                    file,
                    line,
                    format!("{column}: amount must be 1..={MAX_DEADLINE_AMOUNT}"),
                );
                *ok = false;
                None
            }
            Err(e) => {
                self.err(
                    file,
                    line,
                    format!("{column}: {e} (e.g. \"5 working_days\")"),
                );
                *ok = false;
                None
            }
        }
    }

    fn finish(mut self) -> Result<CategorySet, Problems> {
        if !self.problems.is_empty() {
            return Err(Problems(self.problems));
        }
        // Parents precede children, so one pass resolves inheritance:
        // urgency and handling come from the nearest ancestor that sets them;
        // dispatch follows the effective urgency unless the row itself sets it.
        for i in 0..self.items.len() {
            let inherited = self.items[i]
                .parent
                .as_deref()
                .and_then(|p| self.index.get(p))
                .map(|&pi| (self.items[pi].urgency, self.items[pi].handling));
            let c = &mut self.items[i];
            let (parent_urgency, parent_handling) =
                inherited.unwrap_or((Urgency::General, DEFAULT_HANDLING));
            c.urgency = c.own.urgency.unwrap_or(parent_urgency);
            c.handling = c.own.handling.unwrap_or(parent_handling);
            c.dispatch = c.own.dispatch.unwrap_or(c.urgency.default_dispatch());
        }
        let mut children: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut roots = Vec::new();
        let mut hasher = Sha256::new();
        for (i, c) in self.items.iter().enumerate() {
            match &c.parent {
                Some(p) => children.entry(p.clone()).or_default().push(i),
                None => roots.push(i),
            }
            hasher.update(
                format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\n",
                    c.code,
                    c.name.zh,
                    c.name.en,
                    c.urgency.as_str(),
                    c.dispatch,
                    c.handling
                )
                .as_bytes(),
            );
        }
        let digest = hex::encode(hasher.finalize());
        Ok(CategorySet {
            items: self.items,
            index: self.index,
            children,
            roots,
            version: format!("cat-{}", &digest[..16]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_level(set: &CategorySet, prefix: &str, level: usize) -> usize {
        set.iter()
            .filter(|c| c.code.starts_with(prefix) && c.level == level)
            .count()
    }

    #[test]
    fn request_taxonomy_has_15_118_517() {
        let set = CategorySet::builtin();
        assert_eq!(count_level(&set, "R", 1), 15);
        assert_eq!(count_level(&set, "R", 2), 118);
        assert_eq!(count_level(&set, "R", 3), 517);
        assert_eq!(set.get("R01").map(|c| c.name.zh.as_str()), Some("城乡建设"));
        assert_eq!(
            set.get("R15").map(|c| c.name.zh.as_str()),
            Some("劳动和社会保障")
        );
        assert_eq!(
            set.path_name("R01.01.03").as_deref(),
            Some("城乡建设 / 安全生产 / 安全隐患")
        );
    }

    #[test]
    fn urban_taxonomy_has_events_and_components() {
        let set = CategorySet::builtin();
        let urban = set.iter().filter(|c| !c.code.starts_with('R')).count();
        assert!((60..=120).contains(&urban), "{urban}");
        let roots: Vec<&str> = set.roots().iter().map(|c| c.name.zh.as_str()).collect();
        for name in ["市容环境", "宣传广告", "施工管理", "街面秩序", "突发事件"]
        {
            assert!(roots.contains(&name), "{name}");
        }
        for name in ["公用设施", "道路交通", "园林绿化", "房屋土地"] {
            assert!(roots.contains(&name), "{name}");
        }
        // Every urban category has an English name of its own.
        for c in set.iter().filter(|c| !c.code.starts_with('R')) {
            assert_ne!(c.name.en, c.name.zh, "{}", c.code);
        }
    }

    #[test]
    fn codes_are_unique_well_formed_and_pinned() {
        let set = CategorySet::builtin();
        let mut seen = std::collections::BTreeSet::new();
        for c in set.iter() {
            assert!(is_valid_code(&c.code), "{}", c.code);
            assert!(seen.insert(c.code.clone()), "duplicate {}", c.code);
            assert_eq!(c.level, c.code.split('.').count());
            if let Some(p) = &c.parent {
                assert!(CategorySet::is_under(&c.code, p));
            }
        }
        // Codes are written in the files; these must never change.
        let pinned = [
            ("R01.02.13", "燃气供应"),
            ("R05", "纪检监察"),
            ("R13.08", "社会治安"),
            ("R15.09", "退休政策及待遇"),
            ("E04.03", "燃气管道破裂"),
            ("C01.09", "消火栓"),
        ];
        for (code, name) in pinned {
            assert_eq!(set.get(code).map(|c| c.name.zh.as_str()), Some(name));
        }
        // Definition order is code order in the shipped files.
        let codes: Vec<&str> = set
            .iter()
            .filter(|c| c.code.starts_with('R'))
            .map(|c| c.code.as_str())
            .collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        assert_eq!(codes, sorted);
    }

    #[test]
    fn deadlines_are_inherited_and_dispatch_follows_urgency() {
        let set = CategorySet::builtin();
        let gas = set.get("R01.02.13").unwrap();
        assert_eq!(gas.urgency, Urgency::Urgent);
        assert_eq!(gas.dispatch, URGENT_DISPATCH);
        assert_eq!(gas.handling.to_string(), "1 working_days");
        // 园林绿化环卫 inherits from 城市建设和市政管理.
        let green = set.get("R01.02.01").unwrap();
        assert_eq!(green.urgency, Urgency::General);
        assert_eq!(green.dispatch, GENERAL_DISPATCH);
        assert_eq!(green.handling.to_string(), "10 working_days");
        // Urgency is inherited too: every emergency event is urgent.
        for c in set.children("E04") {
            assert_eq!(c.urgency, Urgency::Urgent, "{}", c.code);
            assert_eq!(c.handling.to_string(), "1 working_days");
        }
        for c in set.iter() {
            assert_eq!(c.handling.unit, DurationUnit::WorkingDays, "{}", c.code);
        }
    }

    #[test]
    fn tree_navigation_and_search() {
        let set = CategorySet::builtin();
        let path: Vec<&str> = set
            .path("R01.01.03")
            .iter()
            .map(|c| c.code.as_str())
            .collect();
        assert_eq!(path, ["R01", "R01.01", "R01.01.03"]);
        assert!(set.path("R99").is_empty());
        assert_eq!(set.children("R01").len(), 10);
        assert!(set.children("R01.01.03").is_empty());
        assert_eq!(set.roots().len(), 15 + 12);
        let gas: Vec<&str> = set.search("燃气").iter().map(|c| c.code.as_str()).collect();
        assert_eq!(gas, ["R01.02.13", "E04.03", "C01.07"]);
        assert!(set.search("bus shelter").iter().any(|c| c.code == "C02.02"));
        assert_eq!(set.search("r15.0").len(), 9 + count_level(&set, "R15.0", 3));
        assert!(set.search("  ").is_empty());
    }

    #[test]
    fn version_is_a_content_fingerprint() {
        let a = CategorySet::builtin();
        assert_eq!(a.version(), CategorySet::builtin().version());
        assert!(a.version().starts_with("cat-") && a.version().len() == 20);
        let b = CategorySet::with_extensions(&[(
            "city.csv",
            "code,name_zh,name_en,urgency,dispatch_time,handling_time\nR05,,,,,3 working_days\n",
        )])
        .unwrap();
        assert_ne!(a.version(), b.version());
    }

    const HEAD: &str = "code,name_zh,name_en,urgency,dispatch_time,handling_time\n";

    #[test]
    fn a_city_extends_and_overrides() {
        let city = format!(
            "{HEAD}# 云州 additions\n\
             R01.02.17,共享单车,,,,\n\
             R01.02,,\"Municipal services\",urgent,,4 working_days\n\
             X01,城市特色事项,Local matters,,2 calendar_days,\n\
             X01.01,夜市管理,,,,\n"
        );
        let set = CategorySet::with_extensions(&[("yz.csv", &city)]).unwrap();
        let bikes = set.get("R01.02.17").unwrap();
        assert_eq!(bikes.source.file, "yz.csv");
        assert_eq!(bikes.source.line, 3);
        // Inherits the overridden parent: urgent, 4 working days.
        assert_eq!(bikes.urgency, Urgency::Urgent);
        assert_eq!(bikes.dispatch, URGENT_DISPATCH);
        assert_eq!(bikes.handling.to_string(), "4 working_days");
        let parent = set.get("R01.02").unwrap();
        assert_eq!(parent.name.zh, "城市建设和市政管理");
        assert_eq!(parent.name.en, "Municipal services");
        // A child that set its own handling keeps it.
        assert_eq!(
            set.get("R01.02.13").unwrap().handling.to_string(),
            "1 working_days"
        );
        let local = set.get("X01").unwrap();
        assert_eq!(local.dispatch.to_string(), "2 calendar_days");
        assert_eq!(local.handling, DEFAULT_HANDLING);
        // Dispatch overrides are not inherited: the child follows its urgency.
        assert_eq!(set.get("X01.01").unwrap().dispatch, GENERAL_DISPATCH);
        // Nothing was renumbered.
        let builtin = CategorySet::builtin();
        for c in builtin.iter() {
            assert_eq!(set.get(&c.code).unwrap().name.zh, c.name.zh);
        }
    }

    #[test]
    fn conflicts_are_reported_with_lines() {
        let city = format!(
            "{HEAD}R01,城市建设,,,,\n\
             R01.99,安全生产,,,,\n\
             R77.01,无父类,,,,\n\
             R01.98,新类,,soon,,\n\
             R01.97,新类二,,,,5 fortnights\n\
             bad code,x,,,,\n\
             R01.96,少字段\n\
             R01.95,,,,,\n\
             R01.94,重复,,,,\n\
             R01.94,重复,,,,\n"
        );
        let err = CategorySet::with_extensions(&[("yz.csv", &city)]).unwrap_err();
        let lines: Vec<usize> = err.0.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8, 9, 11], "{err}");
        assert!(err.0.iter().all(|p| p.file == "yz.csv"));
        let text = err.to_string();
        assert!(
            text.contains("yz.csv:2: code R01 is already 城乡建设"),
            "{text}"
        );
        assert!(text.contains("categories-requests.csv:"), "{text}");
        assert!(text.contains("already exists here as R01.01"), "{text}");
        assert!(
            text.contains("parent R77 of R77.01 is not defined"),
            "{text}"
        );
        assert!(text.contains("first at line 10"), "{text}");
    }

    #[test]
    fn a_file_needs_its_header() {
        let err = CategorySet::from_sources(&[("a.csv", "R01,城乡建设,,,,\n")]).unwrap_err();
        assert_eq!(err.0[0].line, 1);
        let err = CategorySet::from_sources(&[("b.csv", "# only a comment\n")]).unwrap_err();
        assert!(err.0[0].message.contains("no header"));
    }
}
