//! A deterministic demo city, 云州市: area units with polygons that tile
//! exactly, departments, one demo user per role, and a few thousand historical
//! requests whose texts come from published citizen messages
//! (`data/demo/messages.csv`, see the README there).
//!
//! Same seed and same `now` give the same city, byte for byte: one ChaCha8 stream
//! per concern, no hash-map iteration, ids derived from codes.
//!
//! Geometry: a lattice of (NX × NY) cells whose vertices are jittered once and
//! shared, so neighbouring units share edges exactly. Every unit is a
//! "row-convex" set of cells (each lattice row an interval of columns, adjacent
//! rows overlapping by at least one cell), which keeps each unit one simple
//! polygon without holes, and lets splitting stay in that class.

use geo::{Coord, LineString, MultiPolygon, Polygon};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::places::{IndexedArea, PlaceIndex, PointPosition, point_position};
use crate::time::{MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE, Micros};
use crate::unit::UnitKind;

/// Password of every demo user (the server prints it when it seeds a demo).
pub const DEMO_PASSWORD: &str = "demo1234";

/// Name and code of the demo city.
pub const CITY_NAME: &str = "云州市";
pub const CITY_CODE: &str = "YZ";

const MESSAGES_CSV: &str = include_str!("../data/demo/messages.csv");

/// Lattice size and placement (around lng 113.0, lat 28.19; cells about 510 m).
const NX: usize = 54;
const NY: usize = 40;
const LNG0: f64 = 112.86;
const LAT0: f64 = 28.10;
const DX: f64 = 0.0052;
const DY: f64 = 0.0046;
/// Vertex jitter in cells; below 0.25 so cells stay simple quadrilaterals.
const JITTER: f64 = 0.22;

const TARGET_GRIDS: usize = 200;
const CASE_COUNT: usize = 3000;
const HISTORY_DAYS: i64 = 730;
const MAX_DESCRIPTION_CHARS: usize = 2000;

#[derive(Debug, Clone, PartialEq)]
pub struct DemoCity {
    /// Parents always come before their children.
    pub units: Vec<DemoUnit>,
    pub users: Vec<DemoUser>,
    /// Sorted by `created_at`.
    pub case_seeds: Vec<DemoCaseSeed>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DemoUnit {
    /// `u-{code}`.
    pub id: String,
    pub parent_id: Option<String>,
    pub kind: UnitKind,
    pub code: String,
    pub name: String,
    /// Area units carry their polygon; departments have none.
    pub shape: Option<MultiPolygon<f64>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoUser {
    /// ASCII.
    pub username: String,
    pub display_name: String,
    /// Always [`DEMO_PASSWORD`].
    pub password: String,
    /// (role, unit id of the scope).
    /// Role name (declared by the requests pack, or `admin`) and scope unit.
    pub roles: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DemoCaseSeed {
    pub created_at: Micros,
    pub title: String,
    /// At most 2,000 characters.
    pub description: String,
    /// First-level category of the source message (e.g. "城乡建设").
    pub category: String,
    pub lng: f64,
    pub lat: f64,
    /// The grid whose interior holds (lng, lat).
    pub grid_id: String,
    /// How far the case went, in order; a prefix of
    /// Dispatched → Accepted → Resolved → Closed. Empty: still registered.
    pub history: Vec<DemoStep>,
}

/// One step of a demo case, for replay through a pack whose states are
/// registered → assigned → in_progress → resolved → closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoStep {
    /// registered → assigned: routed to a department.
    Dispatched { at: Micros, to_unit_id: String },
    /// assigned → in_progress: the department took it on.
    Accepted { at: Micros },
    /// in_progress → resolved, with the handler's note.
    Resolved { at: Micros, note: String },
    /// resolved → closed (after the follow-up call).
    Closed { at: Micros },
}

impl DemoStep {
    pub fn at(&self) -> Micros {
        match self {
            DemoStep::Dispatched { at, .. }
            | DemoStep::Accepted { at }
            | DemoStep::Resolved { at, .. }
            | DemoStep::Closed { at } => *at,
        }
    }

    /// The state the case is in after this step.
    pub fn state_after(&self) -> &'static str {
        match self {
            DemoStep::Dispatched { .. } => "assigned",
            DemoStep::Accepted { .. } => "in_progress",
            DemoStep::Resolved { .. } => "resolved",
            DemoStep::Closed { .. } => "closed",
        }
    }
}

impl DemoCaseSeed {
    /// The state after replaying the history.
    pub fn state(&self) -> &'static str {
        self.history
            .last()
            .map_or("registered", DemoStep::state_after)
    }
}

impl DemoCity {
    /// A point index over the city's area units.
    pub fn place_index(&self) -> PlaceIndex {
        PlaceIndex::new(
            self.units
                .iter()
                .filter_map(|u| {
                    Some(IndexedArea {
                        unit_id: u.id.clone(),
                        code: u.code.clone(),
                        level: u.kind.area_level()?,
                        shape: u.shape.clone()?,
                    })
                })
                .collect(),
        )
    }
}

/// Errors of [`parse_csv`]. Lines are counted from 1 and include lines inside
/// quoted fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("line {line}: a closing quote must be followed by a comma or a line end")]
    AfterQuote { line: usize },
    #[error("line {line}: quote inside an unquoted field")]
    StrayQuote { line: usize },
    #[error("line {line}: quoted field is not closed")]
    UnclosedQuote { line: usize },
}

/// Parses RFC 4180 CSV: comma-separated, fields optionally quoted with `"`,
/// `""` inside a quoted field for a quote, line breaks allowed inside quotes.
/// Records end with CRLF or LF; a leading BOM and empty lines are skipped.
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut field = String::new();
    // Whether the current field has begun (it may be a quoted empty string).
    let mut started = false;
    let mut in_quotes = false;
    let mut line = 1;
    let mut chars = text.chars().peekable();
    let mut end_record = |row: &mut Vec<String>, field: &mut String, started: bool| {
        if row.is_empty() && field.is_empty() && !started {
            return;
        }
        row.push(std::mem::take(field));
        rows.push(std::mem::take(row));
    };
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => {
                    in_quotes = false;
                    if !matches!(chars.peek(), None | Some(',' | '\n' | '\r')) {
                        return Err(CsvError::AfterQuote { line });
                    }
                }
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            ',' => {
                row.push(std::mem::take(&mut field));
                started = false;
            }
            '"' if !started => {
                in_quotes = true;
                started = true;
            }
            '"' => return Err(CsvError::StrayQuote { line }),
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                end_record(&mut row, &mut field, started);
                started = false;
                line += 1;
            }
            _ => {
                field.push(c);
                started = true;
            }
        }
    }
    if in_quotes {
        return Err(CsvError::UnclosedQuote { line });
    }
    end_record(&mut row, &mut field, started);
    Ok(rows)
}

/// A source message: subject, detail, first-level category.
struct Message {
    subject: String,
    detail: String,
    category: String,
}

fn demo_messages() -> Vec<Message> {
    // The embedded file is checked by a test; a bad row is skipped, not fatal.
    let rows = parse_csv(MESSAGES_CSV).unwrap_or_default();
    rows.into_iter()
        .skip(1)
        .filter(|r| r.len() == 5)
        .map(|r| Message {
            subject: r[1].trim().to_string(),
            detail: r[3].trim().to_string(),
            category: r[4].trim().to_string(),
        })
        .filter(|m| !m.subject.is_empty() && !m.category.is_empty())
        .collect()
}

/// Jittered lattice vertices, `(NX + 1) × (NY + 1)`, row-major from the south-west.
struct Lattice {
    vertices: Vec<Coord<f64>>,
}

impl Lattice {
    fn new(rng: &mut ChaCha8Rng) -> Lattice {
        let round6 = |v: f64| (v * 1e6).round() / 1e6;
        let mut vertices = Vec::with_capacity((NX + 1) * (NY + 1));
        for y in 0..=NY {
            for x in 0..=NX {
                let jx: f64 = rng.gen_range(-JITTER..JITTER);
                let jy: f64 = rng.gen_range(-JITTER..JITTER);
                vertices.push(Coord {
                    x: round6(LNG0 + (x as f64 + jx) * DX),
                    y: round6(LAT0 + (y as f64 + jy) * DY),
                });
            }
        }
        Lattice { vertices }
    }

    fn at(&self, x: usize, y: usize) -> Coord<f64> {
        self.vertices
            .get(y * (NX + 1) + x)
            .copied()
            .unwrap_or(Coord { x: LNG0, y: LAT0 })
    }
}

/// A row-convex set of lattice cells: row `r0 + i` holds columns
/// `rows[i].0 .. rows[i].1`; adjacent rows overlap by at least one column.
#[derive(Debug, Clone)]
struct Region {
    r0: usize,
    rows: Vec<(usize, usize)>,
}

impl Region {
    fn cells(&self) -> usize {
        self.rows.iter().map(|(lo, hi)| hi - lo).sum()
    }

    fn cell_list(&self) -> Vec<(usize, usize)> {
        self.rows
            .iter()
            .enumerate()
            .flat_map(|(i, &(lo, hi))| (lo..hi).map(move |x| (x, self.r0 + i)))
            .collect()
    }

    /// Mean cell centre, in lattice units.
    fn centre(&self) -> (f64, f64) {
        let cells = self.cell_list();
        let n = cells.len().max(1) as f64;
        let (sx, sy) = cells.iter().fold((0.0, 0.0), |(sx, sy), &(x, y)| {
            (sx + x as f64 + 0.5, sy + y as f64 + 0.5)
        });
        (sx / n, sy / n)
    }

    /// Splits each row at a column, the cut wandering a little from row to row.
    /// `None` when some row cannot be cut while keeping both sides row-convex.
    fn cut_columns(&self, frac: f64, rng: &mut ChaCha8Rng) -> Option<(Region, Region)> {
        let n = self.rows.len();
        let mut offset: i64 = 0;
        let (mut left, mut right) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let (lo, hi) = self.rows[i];
            // The cut c (first column of the right side) must leave both sides of
            // this row and of the overlaps with neighbours non-empty.
            let (mut a, mut b) = (lo + 1, hi.checked_sub(1)?);
            for j in [i.checked_sub(1), Some(i + 1).filter(|&j| j < n)]
                .into_iter()
                .flatten()
            {
                let (lo_j, hi_j) = self.rows[j];
                a = a.max(lo.max(lo_j) + 1);
                b = b.min(hi.min(hi_j).checked_sub(1)?);
            }
            if a > b {
                return None;
            }
            if i > 0 && rng.gen_bool(0.5) {
                offset = (offset + rng.gen_range(-1..=1)).clamp(-2, 2);
            }
            let target = (lo as f64 + frac * (hi - lo) as f64).round() as i64 + offset;
            let c = (target.max(a as i64) as usize).min(b);
            left.push((lo, c));
            right.push((c, hi));
        }
        Some((
            Region {
                r0: self.r0,
                rows: left,
            },
            Region {
                r0: self.r0,
                rows: right,
            },
        ))
    }

    /// Splits between two rows.
    fn cut_rows(&self, frac: f64) -> Option<(Region, Region)> {
        let n = self.rows.len();
        if n < 2 {
            return None;
        }
        let target = frac * self.cells() as f64;
        let mut acc = 0usize;
        let mut best = (f64::INFINITY, 1);
        for t in 1..n {
            acc += self.rows[t - 1].1 - self.rows[t - 1].0;
            let d = (acc as f64 - target).abs();
            if d < best.0 {
                best = (d, t);
            }
        }
        let t = best.1;
        Some((
            Region {
                r0: self.r0,
                rows: self.rows[..t].to_vec(),
            },
            Region {
                r0: self.r0 + t,
                rows: self.rows[t..].to_vec(),
            },
        ))
    }

    /// Splits into `k` parts of similar size (each share jittered by up to
    /// `jitter`), cutting across the longer side. May return fewer parts when a
    /// region is too small, never more; each part has at least `min_cells` cells
    /// per final part it holds where possible.
    fn split(self, k: usize, jitter: f64, min_cells: usize, rng: &mut ChaCha8Rng) -> Vec<Region> {
        if k <= 1 {
            return vec![self];
        }
        let k1 = k / 2;
        let k2 = k - k1;
        let frac = (k1 as f64 / k as f64 + rng.gen_range(-jitter..=jitter)).clamp(0.15, 0.85);
        let width = self.cells() as f64 / self.rows.len().max(1) as f64;
        let wide = width >= self.rows.len() as f64;
        for need in [min_cells, 1] {
            for vertical in [wide, !wide] {
                let cut = if vertical {
                    self.cut_columns(frac, rng)
                } else {
                    self.cut_rows(frac)
                };
                if let Some((a, b)) = cut
                    && a.cells() >= k1 * need
                    && b.cells() >= k2 * need
                {
                    let mut parts = a.split(k1, jitter, min_cells, rng);
                    parts.extend(b.split(k2, jitter, min_cells, rng));
                    return parts;
                }
            }
        }
        vec![self]
    }

    /// The outline, counter-clockwise, through every lattice vertex on it (so
    /// that neighbours share vertices exactly), closed.
    fn ring(&self, lattice: &Lattice) -> Vec<Coord<f64>> {
        let n = self.rows.len();
        let (Some(&(lo0, hi0)), Some(&(lo_l, hi_l))) = (self.rows.first(), self.rows.last()) else {
            return Vec::new();
        };
        let r0 = self.r0;
        let top = r0 + n;
        let mut pts: Vec<(usize, usize)> = Vec::new();
        // South edge, west to east.
        pts.extend((lo0..hi0).map(|x| (x, r0)));
        // East side, going north.
        for i in 0..n {
            let hi = self.rows[i].1;
            let y = r0 + i;
            pts.push((hi, y));
            if i + 1 < n {
                let next = self.rows[i + 1].1;
                if next > hi {
                    pts.extend((hi..next).map(|x| (x, y + 1)));
                } else {
                    pts.extend((next + 1..=hi).rev().map(|x| (x, y + 1)));
                }
            }
        }
        // North edge, east to west.
        pts.extend((lo_l + 1..=hi_l).rev().map(|x| (x, top)));
        // West side, going south.
        for i in (0..n).rev() {
            let lo = self.rows[i].0;
            let y = r0 + i;
            pts.push((lo, y + 1));
            if i > 0 {
                let prev = self.rows[i - 1].0;
                if prev > lo {
                    pts.extend((lo..prev).map(|x| (x, y)));
                } else {
                    pts.extend((prev + 1..=lo).rev().map(|x| (x, y)));
                }
            }
        }
        pts.push((lo0, r0));
        pts.into_iter().map(|(x, y)| lattice.at(x, y)).collect()
    }

    fn shape(&self, lattice: &Lattice) -> MultiPolygon<f64> {
        MultiPolygon(vec![Polygon::new(LineString(self.ring(lattice)), vec![])])
    }
}

/// The whole city: each row a wide interval, narrower towards north and south,
/// with wandering edges.
fn city_region(rng: &mut ChaCha8Rng) -> Region {
    let mut rows = Vec::with_capacity(NY);
    let (mut wl, mut wr) = (0i64, 0i64);
    let centre = NX as f64 / 2.0;
    for r in 0..NY {
        let t = (r as f64 + 0.5) / NY as f64 * 2.0 - 1.0;
        let half = centre * (0.72 + 0.28 * (1.0 - t * t).sqrt());
        wl = (wl + rng.gen_range(-1..=1)).clamp(-2, 2);
        wr = (wr + rng.gen_range(-1..=1)).clamp(-2, 2);
        let lo = ((centre - half).round() as i64 + wl).clamp(0, NX as i64 / 3) as usize;
        let hi = ((centre + half).round() as i64 + wr).clamp(2 * NX as i64 / 3, NX as i64) as usize;
        rows.push((lo, hi));
    }
    Region { r0: 0, rows }
}

/// Districts: (name, pinyin for usernames), in code order YZ-01..YZ-04.
const DISTRICTS: [(&str, &str); 4] = [
    ("东湖区", "donghu"),
    ("西岭区", "xiling"),
    ("南港区", "nangang"),
    ("北苑区", "beiyuan"),
];

const STREET_NAMES: [&str; 16] = [
    "湖滨", "望月", "朝阳", "青山", "白沙", "文昌", "新河", "清水", "桃源", "凤凰", "杏林", "锦绣",
    "金霞", "云台", "龙泉", "松涛",
];

const COMMUNITY_NAMES: [&str; 66] = [
    "桂花", "枫林", "紫荆", "翠竹", "玉兰", "海棠", "芙蓉", "梧桐", "银杏", "樱花", "丹桂", "青松",
    "柳岸", "荷塘", "梅园", "杏苑", "丰泽", "华庭", "锦江", "星城", "滨江", "新村", "建设", "人民",
    "解放", "和平", "友谊", "幸福", "光明", "东风", "红星", "长青", "育才", "书香", "南湖", "北岸",
    "西园", "东苑", "春晖", "秋实", "晨曦", "阳光", "康宁", "安居", "乐业", "民主", "团结", "兴旺",
    "嘉禾", "瑞丰", "金桥", "银河", "天心", "月湖", "星沙", "云峰", "雨林", "霞光", "碧水", "蓝天",
    "宏图", "振兴", "福源", "瑞祥", "万家", "德润",
];

/// City bureaus: (key for usernames and routing, name without the city prefix).
const CITY_DEPARTMENTS: [(&str, &str); 22] = [
    ("chengguan", "城市管理局"),
    ("zhujian", "住房和城乡建设局"),
    ("huanbao", "生态环境局"),
    ("jiaotong", "交通运输局"),
    ("renshe", "人力资源和社会保障局"),
    ("shijian", "市场监督管理局"),
    ("gongan", "公安局"),
    ("jiaoyu", "教育局"),
    ("weijian", "卫生健康委员会"),
    ("minzheng", "民政局"),
    ("shuiwu", "水务局"),
    ("ziran", "自然资源和规划局"),
    ("wenlv", "文化旅游广电体育局"),
    ("shangwu", "商务局"),
    ("yibao", "医疗保障局"),
    ("yingji", "应急管理局"),
    ("nongye", "农业农村局"),
    ("fagai", "发展和改革委员会"),
    ("sifa", "司法局"),
    ("tuiyi", "退役军人事务局"),
    ("gongjijin", "住房公积金管理中心"),
    ("xinfang", "信访局"),
];

/// District bureaus, one of each in every district.
const DISTRICT_DEPARTMENTS: [(&str, &str); 2] =
    [("chengguan", "城市管理局"), ("zhujian", "住房和城乡建设局")];

/// City bureaus given a demo handler account.
const HANDLER_DEPARTMENTS: [&str; 10] = [
    "chengguan",
    "zhujian",
    "huanbao",
    "jiaotong",
    "renshe",
    "shijian",
    "jiaoyu",
    "weijian",
    "wenlv",
    "shangwu",
];

const RESOLUTION_NOTES: [&str; 8] = [
    "已联系来电人说明情况，问题已处理完毕。",
    "经现场核查，已督促责任单位整改到位。",
    "已按现行政策向来电人解释答复，来电人表示理解。",
    "已协调相关单位和当事人，问题已解决。",
    "已安排人员现场处置，并将持续跟踪。",
    "经调查情况属实，已依法责令整改。",
    "已纳入近期工作计划，分步推进解决。",
    "已约谈相关企业负责人，问题已整改。",
];

fn unit_id(code: &str) -> String {
    format!("u-{code}")
}

/// Everything the case generator needs to know about the map.
struct GridInfo {
    id: String,
    district: usize,
    region: Region,
    shape: MultiPolygon<f64>,
}

/// Generates the demo city. Same `seed` and `now` give the same city; case times
/// lie in the two years before `now`.
pub fn generate_city(seed: u64, now: Micros) -> DemoCity {
    let stream = |n: u64| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(n);
        rng
    };
    let (mut geo_rng, mut name_rng, mut case_rng) = (stream(1), stream(2), stream(3));
    let lattice = Lattice::new(&mut geo_rng);

    let mut units = Vec::new();
    let city_id = unit_id(CITY_CODE);
    let city = city_region(&mut geo_rng);
    units.push(DemoUnit {
        id: city_id.clone(),
        parent_id: None,
        kind: UnitKind::City,
        code: CITY_CODE.into(),
        name: CITY_NAME.into(),
        shape: Some(city.shape(&lattice)),
    });
    for (i, (_, name)) in CITY_DEPARTMENTS.iter().enumerate() {
        let code = format!("{CITY_CODE}-D{:02}", i + 1);
        units.push(DemoUnit {
            id: unit_id(&code),
            parent_id: Some(city_id.clone()),
            kind: UnitKind::Department,
            code,
            name: format!("{CITY_NAME}{name}"),
            shape: None,
        });
    }

    // Districts named by compass direction around the city centre: the part
    // facing east is 东湖区, and so on (east, west, south, north).
    let mut districts = city.clone().split(4, 0.06, 40, &mut geo_rng);
    let (cx, cy) = city.centre();
    let bearing = |r: &Region| {
        let (x, y) = r.centre();
        (y - cy).atan2(x - cx)
    };
    let mut order: Vec<usize> = (0..districts.len()).collect();
    let mut assigned: Vec<Option<usize>> = vec![None; districts.len()];
    // East (0), west (π), south (-π/2), north (π/2): each picks the nearest free part.
    for (slot, dir) in [
        0.0,
        std::f64::consts::PI,
        -std::f64::consts::FRAC_PI_2,
        std::f64::consts::FRAC_PI_2,
    ]
    .into_iter()
    .enumerate()
    {
        let angle_gap = |i: usize| {
            let d = (bearing(&districts[i]) - dir).rem_euclid(std::f64::consts::TAU);
            d.min(std::f64::consts::TAU - d)
        };
        if let Some(best) = order
            .iter()
            .copied()
            .filter(|&i| assigned[i].is_none())
            .min_by(|&a, &b| angle_gap(a).total_cmp(&angle_gap(b)))
        {
            assigned[best] = Some(slot);
        }
    }
    order.sort_by_key(|&i| assigned[i].unwrap_or(usize::MAX));
    let mut sorted = Vec::with_capacity(districts.len());
    for i in order {
        sorted.push(std::mem::replace(
            &mut districts[i],
            Region {
                r0: 0,
                rows: Vec::new(),
            },
        ));
    }
    let districts = sorted;

    let mut street_names = STREET_NAMES.to_vec();
    street_names.shuffle(&mut name_rng);
    let mut community_names = COMMUNITY_NAMES.to_vec();
    community_names.shuffle(&mut name_rng);
    let (mut street_names, mut community_names) =
        (street_names.into_iter(), community_names.into_iter());

    // Split districts into streets and communities first, then share the grids
    // among communities by size.
    struct Street {
        district: usize,
        code: String,
        name: String,
        region: Region,
        communities: Vec<(String, String, Region)>,
    }
    let mut streets = Vec::new();
    for (d, region) in districts.iter().enumerate() {
        let n = geo_rng.gen_range(2..=3);
        for (s, street) in region
            .clone()
            .split(n, 0.1, 30, &mut geo_rng)
            .into_iter()
            .enumerate()
        {
            let code = format!("{CITY_CODE}-{:02}-{:02}", d + 1, s + 1);
            let m = geo_rng.gen_range(3..=5);
            let communities = street
                .clone()
                .split(m, 0.12, 8, &mut geo_rng)
                .into_iter()
                .enumerate()
                .map(|(c, r)| {
                    let name = community_names.next().unwrap_or("新建");
                    (format!("{code}-{:02}", c + 1), format!("{name}社区"), r)
                })
                .collect();
            let name = street_names.next().unwrap_or("新城");
            streets.push(Street {
                district: d,
                code,
                name: format!("{name}街道"),
                region: street,
                communities,
            });
        }
    }
    let community_cells: Vec<usize> = streets
        .iter()
        .flat_map(|s| s.communities.iter().map(|c| c.2.cells()))
        .collect();
    let grid_counts = apportion(TARGET_GRIDS, &community_cells, 2);

    let mut grids: Vec<GridInfo> = Vec::new();
    let mut counts = grid_counts.into_iter();
    let mut district_streets = streets.into_iter().peekable();
    for (d, region) in districts.iter().enumerate() {
        let (name, _) = DISTRICTS.get(d).copied().unwrap_or(("新区", "xinqu"));
        let code = format!("{CITY_CODE}-{:02}", d + 1);
        let district_id = unit_id(&code);
        units.push(DemoUnit {
            id: district_id.clone(),
            parent_id: Some(city_id.clone()),
            kind: UnitKind::District,
            code: code.clone(),
            name: name.into(),
            shape: Some(region.shape(&lattice)),
        });
        for (i, (_, dept)) in DISTRICT_DEPARTMENTS.iter().enumerate() {
            let dept_code = format!("{code}-D{:02}", i + 1);
            units.push(DemoUnit {
                id: unit_id(&dept_code),
                parent_id: Some(district_id.clone()),
                kind: UnitKind::Department,
                code: dept_code,
                name: format!("{name}{dept}"),
                shape: None,
            });
        }
        while let Some(street) = district_streets.next_if(|s| s.district == d) {
            let street_id = unit_id(&street.code);
            units.push(DemoUnit {
                id: street_id.clone(),
                parent_id: Some(district_id.clone()),
                kind: UnitKind::Street,
                code: street.code.clone(),
                name: street.name.clone(),
                shape: Some(street.region.shape(&lattice)),
            });
            for (c_code, c_name, c_region) in street.communities {
                let community_id = unit_id(&c_code);
                units.push(DemoUnit {
                    id: community_id.clone(),
                    parent_id: Some(street_id.clone()),
                    kind: UnitKind::Community,
                    code: c_code.clone(),
                    name: c_name.clone(),
                    shape: Some(c_region.shape(&lattice)),
                });
                let n = counts.next().unwrap_or(2);
                for (g, g_region) in c_region
                    .split(n, 0.15, 2, &mut geo_rng)
                    .into_iter()
                    .enumerate()
                {
                    let g_code = format!("{c_code}-{:02}", g + 1);
                    let shape = g_region.shape(&lattice);
                    units.push(DemoUnit {
                        id: unit_id(&g_code),
                        parent_id: Some(community_id.clone()),
                        kind: UnitKind::Grid,
                        code: g_code.clone(),
                        name: format!("{c_name}第{}网格", g + 1),
                        shape: Some(shape.clone()),
                    });
                    grids.push(GridInfo {
                        id: unit_id(&g_code),
                        district: d,
                        region: g_region,
                        shape,
                    });
                }
            }
        }
    }

    let users = demo_users(&units);
    let case_seeds = demo_cases(&mut case_rng, now, &lattice, &grids);
    DemoCity {
        units,
        users,
        case_seeds,
    }
}

/// Shares `total` among items proportionally to `weights` (largest remainder),
/// at least `min` each.
fn apportion(total: usize, weights: &[usize], min: usize) -> Vec<usize> {
    let sum: usize = weights.iter().sum();
    if weights.is_empty() || sum == 0 {
        return vec![min; weights.len()];
    }
    let quotas: Vec<f64> = weights
        .iter()
        .map(|&w| total as f64 * w as f64 / sum as f64)
        .collect();
    let mut out: Vec<usize> = quotas.iter().map(|q| q.floor() as usize).collect();
    let given: usize = out.iter().sum();
    let mut by_remainder: Vec<usize> = (0..weights.len()).collect();
    by_remainder.sort_by(|&a, &b| {
        let (ra, rb) = (quotas[a] - quotas[a].floor(), quotas[b] - quotas[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in by_remainder.iter().take(total.saturating_sub(given)) {
        out[i] += 1;
    }
    out.iter().map(|&n| n.max(min)).collect()
}

fn demo_users(units: &[DemoUnit]) -> Vec<DemoUser> {
    let by_code = |code: &str| {
        units
            .iter()
            .find(|u| u.code == code)
            .map(|u| (u.id.clone(), u.name.clone()))
            .unwrap_or_else(|| (unit_id(code), code.to_string()))
    };
    let first_of = |kind: UnitKind, prefix: &str| {
        units
            .iter()
            .find(|u| u.kind == kind && u.code.starts_with(prefix))
            .map(|u| (u.id.clone(), u.name.clone()))
            .unwrap_or_else(|| (unit_id(prefix), prefix.to_string()))
    };
    let user =
        |username: &str, display_name: String, roles: Vec<(&'static str, String)>| DemoUser {
            username: username.into(),
            display_name,
            password: DEMO_PASSWORD.into(),
            roles,
        };
    let (city_id, _) = by_code(CITY_CODE);
    let east = format!("{CITY_CODE}-01");
    let (east_cg_id, east_cg_name) = by_code(&format!("{east}-D01"));
    let (community_id, community_name) = first_of(UnitKind::Community, &east);
    // The street's people's mediation committee (街道人民调解委员会) works
    // from the street unit.
    let (street_id, street_name) = first_of(UnitKind::Street, &east);

    let mut users = vec![
        user(
            "admin",
            "系统管理员".into(),
            vec![("admin", city_id.clone())],
        ),
        user(
            "operator",
            "热线受理员".into(),
            vec![("operator", city_id.clone())],
        ),
        user(
            "dispatcher",
            "热线分拨员".into(),
            vec![("dispatcher", city_id.clone())],
        ),
        user(
            "supervisor",
            "市督办员".into(),
            vec![("supervisor", city_id.clone())],
        ),
        user(
            "handler",
            format!("{east_cg_name}承办人"),
            vec![("handler", east_cg_id)],
        ),
        user(
            "grid",
            format!("{community_name}网格员"),
            vec![("grid_worker", community_id)],
        ),
        user(
            "mediator",
            format!("{street_name}人民调解员"),
            vec![("mediator", street_id.clone())],
        ),
        user(
            "mediator.family",
            format!("{street_name}家事调解员"),
            vec![("mediator", street_id.clone())],
        ),
        // The city's pool: a specialist any committee may call on, who sees
        // only the disputes assigned to him.
        user(
            "mediator.city",
            "市特邀人民调解员".into(),
            vec![("invited_mediator", city_id.clone())],
        ),
        user(
            "mediation.clerk",
            format!("{street_name}调委会受理员"),
            vec![("mediation_clerk", street_id)],
        ),
    ];
    for (d, (name, py)) in DISTRICTS.iter().enumerate() {
        let code = format!("{CITY_CODE}-{:02}", d + 1);
        let (district_id, _) = by_code(&code);
        users.push(user(
            &format!("{py}.dispatcher"),
            format!("{name}分拨员"),
            vec![("dispatcher", district_id.clone())],
        ));
        users.push(user(
            &format!("{py}.admin"),
            format!("{name}管理员"),
            vec![("admin", district_id)],
        ));
        let roles = (1..=DISTRICT_DEPARTMENTS.len())
            .map(|i| ("handler", by_code(&format!("{code}-D{i:02}")).0))
            .collect();
        users.push(user(
            &format!("{py}.handler"),
            format!("{name}承办人"),
            roles,
        ));
    }
    for key in HANDLER_DEPARTMENTS {
        if let Some(i) = CITY_DEPARTMENTS.iter().position(|(k, _)| *k == key) {
            let (id, name) = by_code(&format!("{CITY_CODE}-D{:02}", i + 1));
            users.push(user(
                &format!("{key}.handler"),
                format!("{name}承办人"),
                vec![("handler", id)],
            ));
        }
    }
    users
}

/// The department a case of `category` goes to (city bureaus by key, or the
/// district's own bureaus).
fn route(category: &str, district: usize, rng: &mut ChaCha8Rng) -> String {
    let city = |key: &str| {
        let i = CITY_DEPARTMENTS
            .iter()
            .position(|(k, _)| *k == key)
            .unwrap_or(0);
        unit_id(&format!("{CITY_CODE}-D{:02}", i + 1))
    };
    let local = |n: usize| unit_id(&format!("{CITY_CODE}-{:02}-D{n:02}", district + 1));
    let r: f64 = rng.r#gen();
    match category {
        "劳动和社会保障" if r < 0.8 => city("renshe"),
        "劳动和社会保障" => city("yibao"),
        "城乡建设" if r < 0.5 => local(2),
        "城乡建设" if r < 0.8 => local(1),
        "城乡建设" if r < 0.9 => city("ziran"),
        "城乡建设" => city("zhujian"),
        "教育文体" if r < 0.75 => city("jiaoyu"),
        "教育文体" => city("wenlv"),
        "卫生计生" if r < 0.85 => city("weijian"),
        "卫生计生" => city("yibao"),
        "交通运输" if r < 0.8 => city("jiaotong"),
        "交通运输" => city("gongan"),
        "商贸旅游" if r < 0.5 => city("shijian"),
        "商贸旅游" if r < 0.75 => city("shangwu"),
        "商贸旅游" => city("wenlv"),
        "环境保护" if r < 0.7 => city("huanbao"),
        _ => local(1),
    }
}

/// Relative call volume by local hour (UTC+8): quiet at night, busy by day.
const HOUR_WEIGHTS: [u32; 24] = [
    1, 1, 1, 1, 1, 1, 2, 4, 8, 10, 10, 9, 7, 8, 9, 9, 8, 7, 6, 6, 5, 4, 3, 2,
];

fn random_created_at(rng: &mut ChaCha8Rng, now: Micros) -> Micros {
    let local_offset = 8 * MICROS_PER_HOUR;
    let today = (now + local_offset).div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY - local_offset;
    let day = rng.gen_range(0..HISTORY_DAYS);
    let total: u32 = HOUR_WEIGHTS.iter().sum();
    let mut pick = rng.gen_range(0..total);
    let mut hour = 0i64;
    for (h, w) in HOUR_WEIGHTS.iter().enumerate() {
        if pick < *w {
            hour = h as i64;
            break;
        }
        pick -= w;
    }
    let t =
        today - day * MICROS_PER_DAY + hour * MICROS_PER_HOUR + rng.gen_range(0..MICROS_PER_HOUR);
    if t >= now { t - MICROS_PER_DAY } else { t }
}

/// A point strictly inside `grid`: a random spot in one of its cells (by
/// bilinear interpolation of the cell's corners), checked against the polygon.
fn point_in_grid(rng: &mut ChaCha8Rng, lattice: &Lattice, grid: &GridInfo) -> Option<(f64, f64)> {
    let cells = grid.region.cell_list();
    let round6 = |v: f64| (v * 1e6).round() / 1e6;
    for _ in 0..20 {
        let &(x, y) = cells.choose(rng)?;
        let (u, v): (f64, f64) = (rng.gen_range(0.05..0.95), rng.gen_range(0.05..0.95));
        let (a, b, c, d) = (
            lattice.at(x, y),
            lattice.at(x + 1, y),
            lattice.at(x + 1, y + 1),
            lattice.at(x, y + 1),
        );
        let lng = (1.0 - v) * ((1.0 - u) * a.x + u * b.x) + v * ((1.0 - u) * d.x + u * c.x);
        let lat = (1.0 - v) * ((1.0 - u) * a.y + u * b.y) + v * ((1.0 - u) * d.y + u * c.y);
        let (lng, lat) = (round6(lng), round6(lat));
        if point_position(&grid.shape, lng, lat) == PointPosition::Inside {
            return Some((lng, lat));
        }
    }
    None
}

fn demo_cases(
    rng: &mut ChaCha8Rng,
    now: Micros,
    lattice: &Lattice,
    grids: &[GridInfo],
) -> Vec<DemoCaseSeed> {
    let messages = demo_messages();
    if messages.is_empty() || grids.is_empty() {
        return Vec::new();
    }
    let mut seeds = Vec::with_capacity(CASE_COUNT);
    for _ in 0..CASE_COUNT {
        let Some(message) = messages.choose(rng) else {
            break;
        };
        let Some(grid) = grids.choose(rng) else {
            break;
        };
        let Some((lng, lat)) = point_in_grid(rng, lattice, grid) else {
            continue;
        };
        let created_at = random_created_at(rng, now);
        let history = random_history(rng, now, created_at, &message.category, grid.district);
        seeds.push(DemoCaseSeed {
            created_at,
            title: message.subject.clone(),
            description: message.detail.chars().take(MAX_DESCRIPTION_CHARS).collect(),
            category: message.category.clone(),
            lng,
            lat,
            grid_id: grid.id.clone(),
            history,
        });
    }
    seeds.sort_by_key(|s| s.created_at);
    seeds
}

/// A full timeline, cut at `now`: whatever would happen later has not yet.
fn random_history(
    rng: &mut ChaCha8Rng,
    now: Micros,
    created_at: Micros,
    category: &str,
    district: usize,
) -> Vec<DemoStep> {
    let to_unit_id = route(category, district, rng);
    let note = RESOLUTION_NOTES
        .choose(rng)
        .copied()
        .unwrap_or_default()
        .to_string();
    // A share of the newest requests still waits in the intake queue.
    let age = now - created_at;
    let waiting = age < 3 * MICROS_PER_DAY && rng.gen_bool(0.5);
    // Some recent cases are hard ones, still being worked on weeks later.
    let hard = age < 60 * MICROS_PER_DAY && rng.gen_bool(0.15);
    let dispatch = if rng.gen_bool(0.95) {
        rng.gen_range(10 * MICROS_PER_MINUTE..6 * MICROS_PER_HOUR)
    } else {
        rng.gen_range(MICROS_PER_DAY..3 * MICROS_PER_DAY)
    };
    let accept = rng.gen_range(20 * MICROS_PER_MINUTE..MICROS_PER_DAY);
    let handle = match rng.gen_range(0..10) {
        0..=3 => rng.gen_range(2 * MICROS_PER_HOUR..2 * MICROS_PER_DAY),
        4..=7 => rng.gen_range(2 * MICROS_PER_DAY..7 * MICROS_PER_DAY),
        _ => rng.gen_range(7 * MICROS_PER_DAY..28 * MICROS_PER_DAY),
    };
    let handle = if hard {
        rng.gen_range(30 * MICROS_PER_DAY..90 * MICROS_PER_DAY)
    } else {
        handle
    };
    let close = rng.gen_range(MICROS_PER_DAY..3 * MICROS_PER_DAY);
    if waiting {
        return Vec::new();
    }
    let mut at = created_at;
    let mut steps = Vec::with_capacity(4);
    for (k, delay) in [dispatch, accept, handle, close].into_iter().enumerate() {
        at += delay;
        if at >= now {
            break;
        }
        steps.push(match k {
            0 => DemoStep::Dispatched {
                at,
                to_unit_id: to_unit_id.clone(),
            },
            1 => DemoStep::Accepted { at },
            2 => DemoStep::Resolved {
                at,
                note: note.clone(),
            },
            _ => DemoStep::Closed { at },
        });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::places::{geometry_to_geojson, parse_geometry};
    use geo::{Area, BoundingRect};
    use sha2::{Digest, Sha256};
    use std::collections::{BTreeMap, BTreeSet};

    /// 2025-06-01T00:00:00Z.
    const NOW: Micros = 1_748_736_000_000_000;

    fn digest(city: &DemoCity) -> String {
        hex::encode(Sha256::digest(format!("{city:?}").as_bytes()))
    }

    #[test]
    fn csv_parser_handles_quotes_and_newlines() {
        let text = "\u{feff}a,b,c\r\n1,\"x, \"\"y\"\"\nz\",\r\n\n\"\",2,\"3\"";
        let rows = parse_csv(text).unwrap();
        assert_eq!(
            rows,
            vec![
                vec!["a", "b", "c"],
                vec!["1", "x, \"y\"\nz", ""],
                vec!["", "2", "3"],
            ]
        );
        assert_eq!(
            parse_csv("a,\"b").unwrap_err(),
            CsvError::UnclosedQuote { line: 1 }
        );
        assert_eq!(
            parse_csv("a\nb\"c").unwrap_err(),
            CsvError::StrayQuote { line: 2 }
        );
        assert_eq!(
            parse_csv("\"a\"b").unwrap_err(),
            CsvError::AfterQuote { line: 1 }
        );
        assert_eq!(parse_csv("").unwrap(), Vec::<Vec<String>>::new());
    }

    #[test]
    fn embedded_messages_parse() {
        let rows = parse_csv(MESSAGES_CSV).unwrap();
        assert_eq!(
            rows[0],
            vec!["留言编号", "留言主题", "留言时间", "留言详情", "一级分类"]
        );
        assert!(rows.iter().all(|r| r.len() == 5));
        assert_eq!(demo_messages().len(), 298);
        assert!(rows.iter().any(|r| r[3].contains('\n')));
    }

    #[test]
    fn same_seed_same_city() {
        let a = generate_city(7, NOW);
        let b = generate_city(7, NOW);
        assert_eq!(a, b);
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&generate_city(8, NOW)));
    }

    #[test]
    fn structure_and_users() {
        for seed in [1, 2, 3, 42] {
            let city = generate_city(seed, NOW);
            let count = |k: UnitKind| city.units.iter().filter(|u| u.kind == k).count();
            assert_eq!(count(UnitKind::City), 1);
            assert_eq!(count(UnitKind::District), 4);
            assert!((8..=12).contains(&count(UnitKind::Street)), "seed {seed}");
            assert!(
                (180..=230).contains(&count(UnitKind::Grid)),
                "seed {seed}: {}",
                count(UnitKind::Grid)
            );
            assert_eq!(count(UnitKind::Department), 30);
            // Parents first, kinds fit, ids derived from codes and unique.
            let mut seen: BTreeMap<&str, UnitKind> = BTreeMap::new();
            for u in &city.units {
                assert_eq!(u.id, format!("u-{}", u.code));
                let parent = u.parent_id.as_deref().map(|p| seen[p]);
                assert!(u.kind.may_have_parent(parent), "{}", u.code);
                assert!(seen.insert(&u.id, u.kind).is_none());
                assert_eq!(u.shape.is_some(), u.kind != UnitKind::Department);
            }
            let roles: BTreeSet<&str> = city
                .users
                .iter()
                .flat_map(|u| u.roles.iter().map(|r| r.0))
                .collect();
            // Every role the requests and mediation packs declare, and the
            // platform's admin.
            assert_eq!(roles.len(), 9, "{roles:?}");
            let names: BTreeSet<&str> = city.users.iter().map(|u| u.username.as_str()).collect();
            assert_eq!(names.len(), city.users.len());
            for name in [
                "admin",
                "operator",
                "dispatcher",
                "handler",
                "grid",
                "supervisor",
                "mediator",
                "mediation.clerk",
                "donghu.dispatcher",
            ] {
                assert!(names.contains(name), "{name}");
            }
            for u in &city.users {
                assert!(u.username.is_ascii());
                for (_, scope) in &u.roles {
                    assert!(seen.contains_key(scope.as_str()), "{scope}");
                }
            }
        }
    }

    #[test]
    fn polygons_are_valid_and_tile_exactly() {
        let city = generate_city(11, NOW);
        let index = city.place_index();
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        for u in &city.units {
            let Some(shape) = &u.shape else { continue };
            assert_eq!(
                &parse_geometry(&geometry_to_geojson(shape)).unwrap(),
                shape,
                "{}",
                u.code
            );
            let children: Vec<&DemoUnit> = city
                .units
                .iter()
                .filter(|c| c.parent_id.as_deref() == Some(u.id.as_str()) && c.shape.is_some())
                .collect();
            if children.is_empty() {
                continue;
            }
            let sum: f64 = children
                .iter()
                .filter_map(|c| c.shape.as_ref())
                .map(|s| s.unsigned_area())
                .sum();
            let area = shape.unsigned_area();
            assert!(
                ((sum - area) / area).abs() < 1e-9,
                "{}: {sum} vs {area}",
                u.code
            );
            if u.kind != UnitKind::Community {
                continue;
            }
            // Sampled points inside the community are inside exactly one grid.
            let Some(bbox) = shape.bounding_rect() else {
                continue;
            };
            let mut found = 0;
            while found < 40 {
                let x = rng.gen_range(bbox.min().x..bbox.max().x);
                let y = rng.gen_range(bbox.min().y..bbox.max().y);
                if point_position(shape, x, y) != PointPosition::Inside {
                    continue;
                }
                found += 1;
                let inside: Vec<&str> = children
                    .iter()
                    .filter(|c| {
                        c.shape
                            .as_ref()
                            .is_some_and(|s| point_position(s, x, y) == PointPosition::Inside)
                    })
                    .map(|c| c.id.as_str())
                    .collect();
                assert_eq!(inside.len(), 1, "{} at ({x}, {y})", u.code);
                let located = index.locate(x, y).unwrap();
                assert_eq!(located.unit_id, inside[0]);
            }
        }
    }

    #[test]
    fn case_seeds_are_plausible() {
        let city = generate_city(5, NOW);
        let index = city.place_index();
        let units: BTreeMap<&str, &DemoUnit> =
            city.units.iter().map(|u| (u.id.as_str(), u)).collect();
        assert!(city.case_seeds.len() >= 2_900);
        let mut states: BTreeMap<&str, usize> = BTreeMap::new();
        for case in &city.case_seeds {
            assert_eq!(
                index.locate(case.lng, case.lat).map(|a| a.unit_id.as_str()),
                Some(case.grid_id.as_str())
            );
            assert!(case.created_at < NOW && case.created_at >= NOW - 731 * MICROS_PER_DAY);
            assert!(!case.title.is_empty() && !case.category.is_empty());
            assert!(case.description.chars().count() <= MAX_DESCRIPTION_CHARS);
            let mut last = case.created_at;
            for step in &case.history {
                assert!(step.at() > last && step.at() < NOW);
                last = step.at();
                if let DemoStep::Dispatched { to_unit_id, .. } = step {
                    assert_eq!(units[to_unit_id.as_str()].kind, UnitKind::Department);
                }
            }
            *states.entry(case.state()).or_default() += 1;
        }
        let n = city.case_seeds.len();
        assert!(states["closed"] * 10 > n * 9, "{states:?}");
        assert!(
            states.get("registered").copied().unwrap_or(0) >= 1,
            "{states:?}"
        );
        assert!(
            states.get("in_progress").copied().unwrap_or(0) >= 1,
            "{states:?}"
        );
        let categories: BTreeSet<&str> = city
            .case_seeds
            .iter()
            .map(|c| c.category.as_str())
            .collect();
        assert_eq!(categories.len(), 7);
    }
}
