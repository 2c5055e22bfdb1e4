//! Places: area polygons (WGS84 lng/lat), GeoJSON in and out, and point lookup
//! (which grid/community/… does a reported location fall in).
//!
//! Point-in-polygon tests use exact orientation predicates, so a point exactly on
//! an edge shared by two neighbours is seen as "on the boundary" of both, never as
//! inside both or neither; the tie-break rules of [`PlaceIndex::locate`] then give
//! one deterministic answer.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::ControlFlow;

use geo::kernels::{Kernel, Orientation, RobustKernel};
use geo::{Coord, LineString, MultiPolygon, Polygon};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RStarInsertionStrategy, RTree, RTreeParams};
use serde_json::{Map, Value};

/// What is wrong with a GeoJSON geometry. Polygons and rings are numbered from 0;
/// a `Polygon` geometry is "polygon 0".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeometryError {
    #[error("geometry is not a JSON object")]
    NotAnObject,
    #[error("geometry has no string \"type\" member")]
    MissingType,
    #[error("geometry type {0:?} is not supported; expected Polygon or MultiPolygon")]
    UnsupportedType(String),
    #[error("geometry has no \"coordinates\" array")]
    MissingCoordinates,
    #[error("MultiPolygon has no polygons")]
    NoPolygons,
    #[error("polygon {polygon} is not an array of rings")]
    PolygonNotArray { polygon: usize },
    #[error("polygon {polygon} has no rings")]
    NoRings { polygon: usize },
    #[error("ring {ring} of polygon {polygon} is not an array of positions")]
    RingNotArray { polygon: usize, ring: usize },
    #[error(
        "position {position} of ring {ring} of polygon {polygon} is not an array of two numbers [lng, lat]"
    )]
    BadPosition {
        polygon: usize,
        ring: usize,
        position: usize,
    },
    #[error("position {position} of ring {ring} of polygon {polygon} is not a finite number pair")]
    NotFinite {
        polygon: usize,
        ring: usize,
        position: usize,
    },
    #[error(
        "position {position} of ring {ring} of polygon {polygon} ({lng}, {lat}) is outside lng -180..180 / lat -90..90"
    )]
    OutOfRange {
        polygon: usize,
        ring: usize,
        position: usize,
        lng: f64,
        lat: f64,
    },
    #[error(
        "ring {ring} of polygon {polygon} has {count} positions; a closed ring needs at least 4"
    )]
    TooFewPositions {
        polygon: usize,
        ring: usize,
        count: usize,
    },
    #[error("ring {ring} of polygon {polygon} is not closed")]
    NotClosed { polygon: usize, ring: usize },
    #[error("ring {ring} of polygon {polygon} has zero area")]
    ZeroArea { polygon: usize, ring: usize },
}

/// Parses a GeoJSON `Polygon` or `MultiPolygon` geometry (WGS84 lng/lat, holes
/// allowed) and validates it with [`validate_shape`]. A third (altitude) number in
/// a position is ignored.
pub fn parse_geometry(value: &Value) -> Result<MultiPolygon<f64>, GeometryError> {
    let obj = value.as_object().ok_or(GeometryError::NotAnObject)?;
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or(GeometryError::MissingType)?;
    let coords = obj
        .get("coordinates")
        .and_then(Value::as_array)
        .ok_or(GeometryError::MissingCoordinates)?;
    let polygons = match kind {
        "Polygon" => vec![parse_polygon(0, coords)?],
        "MultiPolygon" => {
            if coords.is_empty() {
                return Err(GeometryError::NoPolygons);
            }
            coords
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    p.as_array()
                        .ok_or(GeometryError::PolygonNotArray { polygon: i })
                        .and_then(|rings| parse_polygon(i, rings))
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        other => return Err(GeometryError::UnsupportedType(other.to_string())),
    };
    let mp = MultiPolygon(polygons);
    validate_shape(&mp)?;
    Ok(mp)
}

fn parse_polygon(polygon: usize, rings: &[Value]) -> Result<Polygon<f64>, GeometryError> {
    if rings.is_empty() {
        return Err(GeometryError::NoRings { polygon });
    }
    let mut parsed = Vec::with_capacity(rings.len());
    for (ring, r) in rings.iter().enumerate() {
        let positions = r
            .as_array()
            .ok_or(GeometryError::RingNotArray { polygon, ring })?;
        let mut coords = Vec::with_capacity(positions.len());
        for (position, pos) in positions.iter().enumerate() {
            let bad = GeometryError::BadPosition {
                polygon,
                ring,
                position,
            };
            let pair = pos.as_array().ok_or(bad.clone())?;
            if pair.len() < 2 {
                return Err(bad);
            }
            let x = pair[0].as_f64().ok_or(bad.clone())?;
            let y = pair[1].as_f64().ok_or(bad)?;
            coords.push(Coord { x, y });
        }
        // Checked here because `Polygon::new` silently closes open rings.
        if coords.len() < 4 {
            return Err(GeometryError::TooFewPositions {
                polygon,
                ring,
                count: coords.len(),
            });
        }
        if coords.first() != coords.last() {
            return Err(GeometryError::NotClosed { polygon, ring });
        }
        parsed.push(LineString(coords));
    }
    let exterior = parsed.remove(0);
    Ok(Polygon::new(exterior, parsed))
}

/// Checks a shape as [`parse_geometry`] does: at least one polygon, every polygon
/// with an exterior ring; coordinates finite and within lng -180..180, lat -90..90;
/// rings closed with at least 4 positions and non-zero area.
///
/// Not checked (yet): self-intersections and holes lying inside their exterior.
pub fn validate_shape(mp: &MultiPolygon<f64>) -> Result<(), GeometryError> {
    if mp.0.is_empty() {
        return Err(GeometryError::NoPolygons);
    }
    for (polygon, poly) in mp.0.iter().enumerate() {
        let rings = std::iter::once(poly.exterior()).chain(poly.interiors());
        for (ring, ls) in rings.enumerate() {
            validate_ring(polygon, ring, &ls.0)?;
        }
    }
    Ok(())
}

fn validate_ring(polygon: usize, ring: usize, coords: &[Coord<f64>]) -> Result<(), GeometryError> {
    for (position, c) in coords.iter().enumerate() {
        if !c.x.is_finite() || !c.y.is_finite() {
            return Err(GeometryError::NotFinite {
                polygon,
                ring,
                position,
            });
        }
        if !(-180.0..=180.0).contains(&c.x) || !(-90.0..=90.0).contains(&c.y) {
            return Err(GeometryError::OutOfRange {
                polygon,
                ring,
                position,
                lng: c.x,
                lat: c.y,
            });
        }
    }
    if coords.len() < 4 {
        return Err(GeometryError::TooFewPositions {
            polygon,
            ring,
            count: coords.len(),
        });
    }
    if coords.first() != coords.last() {
        return Err(GeometryError::NotClosed { polygon, ring });
    }
    // Zero area exactly when all positions are collinear; decided with the exact
    // predicate so that tiny but real rings are not rejected by rounding.
    let first = coords[0];
    let has_area = coords.iter().find(|c| **c != first).is_some_and(|&second| {
        coords
            .iter()
            .any(|&c| RobustKernel::orient2d(first, second, c) != Orientation::Collinear)
    });
    if !has_area {
        return Err(GeometryError::ZeroArea { polygon, ring });
    }
    Ok(())
}

/// A GeoJSON `MultiPolygon` geometry object for a shape.
pub fn geometry_to_geojson(mp: &MultiPolygon<f64>) -> Value {
    let ring_json = |ls: &LineString<f64>| -> Value {
        Value::Array(
            ls.0.iter()
                .map(|c| Value::Array(vec![Value::from(c.x), Value::from(c.y)]))
                .collect(),
        )
    };
    let polygons =
        mp.0.iter()
            .map(|p| {
                Value::Array(
                    std::iter::once(p.exterior())
                        .chain(p.interiors())
                        .map(ring_json)
                        .collect(),
                )
            })
            .collect();
    let mut obj = Map::new();
    obj.insert("type".into(), Value::from("MultiPolygon"));
    obj.insert("coordinates".into(), Value::Array(polygons));
    Value::Object(obj)
}

/// Where a point lies relative to a closed shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointPosition {
    Inside,
    OnBoundary,
    Outside,
}

/// Exact position of (lng, lat) relative to `mp`. A point in a hole is outside;
/// a point on a hole's ring is on the boundary. Non-finite input is outside.
pub fn point_position(mp: &MultiPolygon<f64>, lng: f64, lat: f64) -> PointPosition {
    if !lng.is_finite() || !lat.is_finite() {
        return PointPosition::Outside;
    }
    let p = Coord { x: lng, y: lat };
    let mut result = PointPosition::Outside;
    for poly in &mp.0 {
        match polygon_position(poly, p) {
            PointPosition::Inside => return PointPosition::Inside,
            PointPosition::OnBoundary => result = PointPosition::OnBoundary,
            PointPosition::Outside => {}
        }
    }
    result
}

fn polygon_position(poly: &Polygon<f64>, p: Coord<f64>) -> PointPosition {
    match ring_position(&poly.exterior().0, p) {
        PointPosition::Inside => {}
        other => return other,
    }
    for hole in poly.interiors() {
        match ring_position(&hole.0, p) {
            PointPosition::Inside => return PointPosition::Outside,
            PointPosition::OnBoundary => return PointPosition::OnBoundary,
            PointPosition::Outside => {}
        }
    }
    PointPosition::Inside
}

/// Winding-number test with boundary detection. Edges are taken half-open in y
/// (lower end included), and every "which side" question uses the exact
/// predicate, so the answer is exact for the given f64 coordinates.
fn ring_position(ring: &[Coord<f64>], p: Coord<f64>) -> PointPosition {
    let mut winding = 0i32;
    for edge in ring.windows(2) {
        let (a, b) = (edge[0], edge[1]);
        if a == p {
            return PointPosition::OnBoundary;
        }
        if a.y <= p.y {
            if b.y > p.y {
                match RobustKernel::orient2d(a, b, p) {
                    Orientation::CounterClockwise => winding += 1,
                    Orientation::Collinear => return PointPosition::OnBoundary,
                    Orientation::Clockwise => {}
                }
            } else if a.y == p.y && b.y == p.y && (a.x.min(b.x)..=a.x.max(b.x)).contains(&p.x) {
                return PointPosition::OnBoundary;
            }
        } else if b.y <= p.y {
            match RobustKernel::orient2d(a, b, p) {
                Orientation::Clockwise => winding -= 1,
                Orientation::Collinear => return PointPosition::OnBoundary,
                Orientation::CounterClockwise => {}
            }
        }
    }
    if winding != 0 {
        PointPosition::Inside
    } else {
        PointPosition::Outside
    }
}

/// An area unit as seen by the point index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedArea {
    pub unit_id: String,
    pub code: String,
    /// 0 city, 1 district, 2 street, 3 community, 4 grid.
    pub level: u8,
    pub shape: MultiPolygon<f64>,
}

/// Wider nodes than rstar's default (6): a shallower tree, and the index is
/// bulk-loaded once, never edited.
struct WideNodes;

impl RTreeParams for WideNodes {
    const MIN_SIZE: usize = 4;
    const MAX_SIZE: usize = 8;
    const REINSERTION_COUNT: usize = 2;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

/// A polygon's bounding box in the tree; the data is the index into `polys`.
type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// One polygon of one area, its rings flattened into `PlaceIndex::coords` so a
/// lookup touches few cache lines.
#[derive(Debug, Clone)]
struct PolyRef {
    min: [f64; 2],
    max: [f64; 2],
    area: u32,
    /// Exterior ring: `coords[exterior.0..exterior.1]`.
    exterior: (u32, u32),
    /// Holes: `ring_ends[holes.0..holes.1]` are the ends of consecutive hole
    /// rings, starting right after the exterior.
    holes: (u32, u32),
}

/// A uniform bucket grid over one level's extent, precomputed from the R-tree:
/// each bucket lists the polygons whose bounding box meets it. It turns a point
/// query into an O(1) bucket pick plus a few contiguous reads, which matters for
/// random lookups that would otherwise chase tree nodes through memory.
struct BucketGrid {
    min: [f64; 2],
    scale: [f64; 2],
    nx: usize,
    ny: usize,
    /// `items[starts[b]..starts[b + 1]]` are the polygons of bucket b.
    starts: Vec<u32>,
    items: Vec<u32>,
}

impl BucketGrid {
    /// Bucket column/row of a coordinate. The same monotone function is used to
    /// file boxes and to look points up, so a point inside a closed box always
    /// lands in one of the box's buckets, with no epsilon.
    fn slot(v: f64, min: f64, scale: f64, n: usize) -> usize {
        let s = ((v - min) * scale).floor();
        if s <= 0.0 { 0 } else { (s as usize).min(n - 1) }
    }

    fn bucket_of(&self, x: f64, y: f64) -> usize {
        Self::slot(y, self.min[1], self.scale[1], self.ny) * self.nx
            + Self::slot(x, self.min[0], self.scale[0], self.nx)
    }

    /// `None` when the boxes overlap so much that the grid would cost too much
    /// memory; the tree is used then. `members` are this level's polygons.
    fn build(
        min: [f64; 2],
        max: [f64; 2],
        members: &[u32],
        polys: &[PolyRef],
    ) -> Option<BucketGrid> {
        let (w, h) = (max[0] - min[0], max[1] - min[1]);
        let count = members.len();
        if count == 0 || !(w > 0.0 && h > 0.0) {
            return None;
        }
        // About two buckets per polygon, shaped like the extent.
        let target = (2 * count).clamp(1, 1 << 22) as f64;
        let nx = ((target * w / h).sqrt().ceil() as usize).clamp(1, 1 << 12);
        let ny = ((target * h / w).sqrt().ceil() as usize).clamp(1, 1 << 12);
        let scale = [nx as f64 / w, ny as f64 / h];
        if !(scale[0].is_finite() && scale[1].is_finite()) {
            return None;
        }
        let ranges: Vec<(u32, [usize; 4])> = members
            .iter()
            .filter_map(|&k| polys.get(k as usize).map(|p| (k, p)))
            .map(|(k, p)| {
                (
                    k,
                    [
                        Self::slot(p.min[0], min[0], scale[0], nx),
                        Self::slot(p.max[0], min[0], scale[0], nx),
                        Self::slot(p.min[1], min[1], scale[1], ny),
                        Self::slot(p.max[1], min[1], scale[1], ny),
                    ],
                )
            })
            .collect();
        let budget = 16 * count + nx * ny;
        let mut total = 0usize;
        for (_, [x0, x1, y0, y1]) in &ranges {
            total += (x1 - x0 + 1) * (y1 - y0 + 1);
            if total > budget || u32::try_from(total).is_err() {
                return None;
            }
        }
        let mut starts = vec![0u32; nx * ny + 1];
        for (_, [x0, x1, y0, y1]) in &ranges {
            for y in *y0..=*y1 {
                for x in *x0..=*x1 {
                    starts[y * nx + x + 1] += 1;
                }
            }
        }
        for b in 1..starts.len() {
            starts[b] += starts[b - 1];
        }
        let mut fill = starts.clone();
        let mut items = vec![0u32; total];
        for (k, [x0, x1, y0, y1]) in &ranges {
            for y in *y0..=*y1 {
                for x in *x0..=*x1 {
                    let b = y * nx + x;
                    items[fill[b] as usize] = *k;
                    fill[b] += 1;
                }
            }
        }
        Some(BucketGrid {
            min,
            scale,
            nx,
            ny,
            starts,
            items,
        })
    }
}

struct LevelIndex {
    level: u8,
    min: [f64; 2],
    max: [f64; 2],
    tree: RTree<Entry, WideNodes>,
    grid: Option<BucketGrid>,
}

/// Point lookup over area units: per level, an R-tree of polygon bounding boxes
/// (with a bucket grid precomputed from it), and exact containment checked on
/// the candidates.
pub struct PlaceIndex {
    areas: Vec<IndexedArea>,
    polys: Vec<PolyRef>,
    coords: Vec<Coord<f64>>,
    ring_ends: Vec<u32>,
    /// Deepest level first.
    levels: Vec<LevelIndex>,
}

impl fmt::Debug for PlaceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlaceIndex")
            .field("areas", &self.areas.len())
            .field("polygons", &self.polys.len())
            .field(
                "levels",
                &self.levels.iter().map(|l| l.level).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn ring_bbox(coords: &[Coord<f64>]) -> Option<([f64; 2], [f64; 2])> {
    let first = coords.first()?;
    let mut min = [first.x, first.y];
    let mut max = min;
    for c in coords {
        min = [min[0].min(c.x), min[1].min(c.y)];
        max = [max[0].max(c.x), max[1].max(c.y)];
    }
    Some((min, max))
}

impl PlaceIndex {
    /// Builds the index. Areas are expected to be valid (see [`validate_shape`]);
    /// polygons with an empty or non-finite exterior are left out, so such an area
    /// is counted by [`len`](Self::len) but never located.
    pub fn new(areas: Vec<IndexedArea>) -> PlaceIndex {
        let mut polys = Vec::new();
        let mut coords = Vec::new();
        let mut ring_ends = Vec::new();
        let mut by_level: BTreeMap<u8, Vec<Entry>> = BTreeMap::new();
        // u32 offsets keep the hot arrays small; inputs beyond that are not a city
        // and are cut off rather than indexed wrongly.
        let fits = |n: usize| u32::try_from(n).is_ok();
        for (i, area) in areas.iter().enumerate() {
            for poly in &area.shape.0 {
                let Some((min, max)) = ring_bbox(&poly.exterior().0) else {
                    continue;
                };
                if !(min.iter().chain(&max).all(|v| v.is_finite())) {
                    continue;
                }
                let total: usize = poly.exterior().0.len()
                    + poly.interiors().iter().map(|r| r.0.len()).sum::<usize>();
                if !fits(i)
                    || !fits(polys.len() + 1)
                    || !fits(coords.len() + total)
                    || !fits(ring_ends.len() + poly.interiors().len())
                {
                    continue;
                }
                let start = coords.len() as u32;
                coords.extend_from_slice(&poly.exterior().0);
                let exterior = (start, coords.len() as u32);
                let holes_start = ring_ends.len() as u32;
                for hole in poly.interiors() {
                    coords.extend_from_slice(&hole.0);
                    ring_ends.push(coords.len() as u32);
                }
                let k = polys.len() as u32;
                polys.push(PolyRef {
                    min,
                    max,
                    area: i as u32,
                    exterior,
                    holes: (holes_start, ring_ends.len() as u32),
                });
                by_level
                    .entry(area.level)
                    .or_default()
                    .push(GeomWithData::new(Rectangle::from_corners(min, max), k));
            }
        }
        let levels = by_level
            .into_iter()
            .rev()
            .map(|(level, items)| {
                // Sorted so that bucket lists are in a fixed order.
                let mut members: Vec<u32> = items.iter().map(|e| e.data).collect();
                members.sort_unstable();
                let tree = RTree::<Entry, WideNodes>::bulk_load_with_params(items);
                let envelope = tree.root().envelope();
                let grid = BucketGrid::build(envelope.lower(), envelope.upper(), &members, &polys);
                LevelIndex {
                    level,
                    min: envelope.lower(),
                    max: envelope.upper(),
                    tree,
                    grid,
                }
            })
            .collect();
        PlaceIndex {
            areas,
            polys,
            coords,
            ring_ends,
            levels,
        }
    }

    pub fn len(&self) -> usize {
        self.areas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// All areas, in the order given to [`new`](Self::new).
    pub fn areas(&self) -> &[IndexedArea] {
        &self.areas
    }

    /// The deepest-level area containing (lng, lat), or `None` when no area
    /// contains it or the input is not finite.
    ///
    /// Areas are closed (their boundary belongs to them) and the deepest level
    /// containing the point wins. Among areas of that level:
    /// - an area holding the point in its interior beats any area that only has it
    ///   on its boundary;
    /// - otherwise (a point on an edge or vertex shared by several neighbours) the
    ///   area with the lexicographically smallest `code` wins, and among equal codes
    ///   the one given first to [`new`](Self::new);
    /// - a point in a hole is not in that area; a point on a hole's ring is on the
    ///   area's boundary.
    ///
    /// Containment is decided with exact predicates, so answers are deterministic.
    pub fn locate(&self, lng: f64, lat: f64) -> Option<&IndexedArea> {
        self.locate_via(lng, lat, false)
    }

    /// `locate`, optionally forcing the R-tree path (tests compare both paths).
    fn locate_via(&self, lng: f64, lat: f64, tree_only: bool) -> Option<&IndexedArea> {
        if !lng.is_finite() || !lat.is_finite() {
            return None;
        }
        let p = Coord { x: lng, y: lat };
        for level in &self.levels {
            if lng < level.min[0] || lng > level.max[0] || lat < level.min[1] || lat > level.max[1]
            {
                continue;
            }
            // (interior?, area index) of the best candidate so far.
            let mut best: Option<(bool, u32)> = None;
            let mut consider = |k: u32| {
                let Some(poly) = self.polys.get(k as usize) else {
                    return;
                };
                if lng < poly.min[0] || lng > poly.max[0] || lat < poly.min[1] || lat > poly.max[1]
                {
                    return;
                }
                let interior = match self.poly_position(poly, p) {
                    PointPosition::Inside => true,
                    PointPosition::OnBoundary => false,
                    PointPosition::Outside => return,
                };
                let better = match best {
                    None => true,
                    Some((b_interior, b_area)) => {
                        interior && !b_interior
                            || interior == b_interior && self.code_order(poly.area, b_area).is_lt()
                    }
                };
                if better {
                    best = Some((interior, poly.area));
                }
            };
            match level.grid.as_ref().filter(|_| !tree_only) {
                Some(g) => {
                    let b = g.bucket_of(lng, lat);
                    let range = match (g.starts.get(b), g.starts.get(b + 1)) {
                        (Some(&s), Some(&e)) => s as usize..e as usize,
                        _ => 0..0,
                    };
                    for &k in g.items.get(range).unwrap_or(&[]) {
                        consider(k);
                    }
                }
                None => {
                    let _ =
                        level
                            .tree
                            .locate_all_at_point_int(&[lng, lat], |e| -> ControlFlow<()> {
                                consider(e.data);
                                ControlFlow::Continue(())
                            });
                }
            }
            if let Some((_, a)) = best {
                return self.areas.get(a as usize);
            }
        }
        None
    }

    fn code_order(&self, a: u32, b: u32) -> Ordering {
        let code = |i: u32| self.areas.get(i as usize).map(|x| x.code.as_str());
        code(a).cmp(&code(b)).then(a.cmp(&b))
    }

    fn ring(&self, start: u32, end: u32) -> &[Coord<f64>] {
        self.coords.get(start as usize..end as usize).unwrap_or(&[])
    }

    fn poly_position(&self, poly: &PolyRef, p: Coord<f64>) -> PointPosition {
        match ring_position(self.ring(poly.exterior.0, poly.exterior.1), p) {
            PointPosition::Inside => {}
            other => return other,
        }
        let mut start = poly.exterior.1;
        let ends = self
            .ring_ends
            .get(poly.holes.0 as usize..poly.holes.1 as usize)
            .unwrap_or(&[]);
        for &end in ends {
            match ring_position(self.ring(start, end), p) {
                PointPosition::Inside => return PointPosition::Outside,
                PointPosition::OnBoundary => return PointPosition::OnBoundary,
                PointPosition::Outside => {}
            }
            start = end;
        }
        PointPosition::Inside
    }
}

/// How to read grid features from a GeoJSON FeatureCollection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportMapping {
    /// Feature property holding the unit's name.
    pub name_property: String,
    /// Feature property holding the unit's code.
    pub code_property: String,
    /// Feature property holding the parent unit's code.
    pub parent_property: Option<String>,
    /// Parent code for features without their own parent property.
    pub default_parent: Option<String>,
}

/// One accepted feature of an import.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedFeature {
    /// Position in the file's `features` array, from 0.
    pub index: usize,
    pub name: String,
    pub code: String,
    pub parent_code: String,
    pub shape: MultiPolygon<f64>,
}

/// Why one feature was rejected (several reasons are joined with "; ").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureRejection {
    pub index: usize,
    pub code: Option<String>,
    pub reason: String,
}

/// Everything wrong with an import: a file-level problem, or every rejected
/// feature.
#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
#[error("{}", render_report(.top_level, .rejected))]
pub struct ImportReport {
    pub rejected: Vec<FeatureRejection>,
    pub top_level: Option<String>,
}

fn render_report(top_level: &Option<String>, rejected: &[FeatureRejection]) -> String {
    let mut lines = Vec::with_capacity(rejected.len() + 1);
    if let Some(t) = top_level {
        lines.push(t.clone());
    }
    for r in rejected {
        lines.push(match &r.code {
            Some(code) => format!("feature {} (code {code}): {}", r.index, r.reason),
            None => format!("feature {}: {}", r.index, r.reason),
        });
    }
    lines.join("\n")
}

impl ImportReport {
    fn top(message: impl Into<String>) -> ImportReport {
        ImportReport {
            rejected: Vec::new(),
            top_level: Some(message.into()),
        }
    }
}

/// Reads a text property: `Ok(None)` when absent or null, an error text when it
/// is not a non-empty string. Values are trimmed.
fn text_property(props: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match props.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                Err(format!("property {name:?} is empty"))
            } else {
                Ok(Some(t.to_string()))
            }
        }
        Some(_) => Err(format!("property {name:?} is not a string")),
    }
}

/// Parses a GeoJSON FeatureCollection of areas (e.g. grids) to import.
/// All-or-nothing: if any feature is rejected, the error lists every rejected
/// feature and why.
pub fn parse_feature_collection(
    text: &str,
    mapping: &ImportMapping,
) -> Result<Vec<ImportedFeature>, ImportReport> {
    let root: Value = serde_json::from_str(text)
        .map_err(|e| ImportReport::top(format!("the file is not valid JSON: {e}")))?;
    let obj = root
        .as_object()
        .ok_or_else(|| ImportReport::top("the file is not a GeoJSON object"))?;
    if obj.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(ImportReport::top(
            "the file is not a GeoJSON FeatureCollection (\"type\" must be \"FeatureCollection\")",
        ));
    }
    let features = obj
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| ImportReport::top("the FeatureCollection has no \"features\" array"))?;
    if features.is_empty() {
        return Err(ImportReport::top("the FeatureCollection has no features"));
    }

    let empty = Map::new();
    let mut accepted = Vec::with_capacity(features.len());
    let mut rejected = Vec::new();
    let mut first_use: BTreeMap<String, usize> = BTreeMap::new();
    for (index, feature) in features.iter().enumerate() {
        let mut reasons: Vec<String> = Vec::new();
        let Some(f) = feature
            .as_object()
            .filter(|f| f.get("type").and_then(Value::as_str) == Some("Feature"))
        else {
            rejected.push(FeatureRejection {
                index,
                code: None,
                reason: "not a GeoJSON Feature object".into(),
            });
            continue;
        };
        let props = match f.get("properties") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(m)) => m,
            Some(_) => {
                reasons.push("\"properties\" is not an object".into());
                &empty
            }
        };
        let mut required = |name: &str| match text_property(props, name) {
            Ok(Some(v)) => Some(v),
            Ok(None) => {
                reasons.push(format!("missing property {name:?}"));
                None
            }
            Err(e) => {
                reasons.push(e);
                None
            }
        };
        let name = required(&mapping.name_property);
        let code = required(&mapping.code_property);
        if let Some(c) = &code {
            if let Some(first) = first_use.get(c) {
                reasons.push(format!(
                    "duplicate code {c:?} (also used by feature {first})"
                ));
            } else {
                first_use.insert(c.clone(), index);
            }
        }
        let own_parent = match &mapping.parent_property {
            Some(prop) => text_property(props, prop).unwrap_or_else(|e| {
                reasons.push(e);
                None
            }),
            None => None,
        };
        let parent_code = own_parent.or_else(|| mapping.default_parent.clone());
        if parent_code.is_none() {
            reasons.push(match &mapping.parent_property {
                Some(prop) => {
                    format!("no parent: property {prop:?} is missing and no default parent is set")
                }
                None => {
                    "no parent: no parent property is mapped and no default parent is set".into()
                }
            });
        }
        let shape = match f.get("geometry") {
            None | Some(Value::Null) => {
                reasons.push("the feature has no geometry".into());
                None
            }
            Some(g) => parse_geometry(g)
                .map_err(|e| reasons.push(e.to_string()))
                .ok(),
        };
        match (name, code.clone(), parent_code, shape) {
            (Some(name), Some(code), Some(parent_code), Some(shape)) if reasons.is_empty() => {
                accepted.push(ImportedFeature {
                    index,
                    name,
                    code,
                    parent_code,
                    shape,
                });
            }
            _ => rejected.push(FeatureRejection {
                index,
                code,
                reason: reasons.join("; "),
            }),
        }
    }
    if rejected.is_empty() {
        Ok(accepted)
    } else {
        Err(ImportReport {
            rejected,
            top_level: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon<f64> {
        Polygon::new(
            LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
            vec![],
        )
    }

    fn area(code: &str, level: u8, polys: Vec<Polygon<f64>>) -> IndexedArea {
        IndexedArea {
            unit_id: format!("u-{code}"),
            code: code.into(),
            level,
            shape: MultiPolygon(polys),
        }
    }

    fn code_at(index: &PlaceIndex, x: f64, y: f64) -> Option<&str> {
        index.locate(x, y).map(|a| a.code.as_str())
    }

    #[test]
    fn parses_polygon_with_hole_and_round_trips() {
        let g = json!({"type": "Polygon", "coordinates": [
            [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
            [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]
        ]});
        let mp = parse_geometry(&g).unwrap();
        assert_eq!(mp.0.len(), 1);
        assert_eq!(mp.0[0].interiors().len(), 1);
        let back = geometry_to_geojson(&mp);
        assert_eq!(back["type"], "MultiPolygon");
        assert_eq!(parse_geometry(&back).unwrap(), mp);
        assert_eq!(point_position(&mp, 5.0, 5.0), PointPosition::Outside);
        assert_eq!(point_position(&mp, 4.0, 5.0), PointPosition::OnBoundary);
        assert_eq!(point_position(&mp, 2.0, 5.0), PointPosition::Inside);
        assert_eq!(point_position(&mp, 11.0, 5.0), PointPosition::Outside);
        assert_eq!(point_position(&mp, f64::NAN, 5.0), PointPosition::Outside);
    }

    #[test]
    fn invalid_geometries_say_what_is_wrong() {
        let cases = [
            (json!([1, 2]), "geometry is not a JSON object"),
            (
                json!({"coordinates": []}),
                "geometry has no string \"type\" member",
            ),
            (
                json!({"type": "Point", "coordinates": [1, 2]}),
                "geometry type \"Point\" is not supported; expected Polygon or MultiPolygon",
            ),
            (
                json!({"type": "Polygon"}),
                "geometry has no \"coordinates\" array",
            ),
            (
                json!({"type": "MultiPolygon", "coordinates": []}),
                "MultiPolygon has no polygons",
            ),
            (
                json!({"type": "Polygon", "coordinates": []}),
                "polygon 0 has no rings",
            ),
            (
                json!({"type": "MultiPolygon", "coordinates": [
                    [[[0, 0], [1, 0], [1, 1], [0, 0]]],
                    [[[2, 2], [3, 2], [3, 3], [2, 3]]]
                ]}),
                "ring 0 of polygon 1 is not closed",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}),
                "ring 0 of polygon 0 has 3 positions; a closed ring needs at least 4",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [2, 2], [0, 0]]]}),
                "ring 0 of polygon 0 has zero area",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [181, 0], [1, 1], [0, 0]]]}),
                "position 1 of ring 0 of polygon 0 (181, 0) is outside lng -180..180 / lat -90..90",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, "x"], [1, 1], [0, 0]]]}),
                "position 1 of ring 0 of polygon 0 is not an array of two numbers [lng, lat]",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]], 7]}),
                "ring 1 of polygon 0 is not an array of positions",
            ),
            (
                json!({"type": "MultiPolygon", "coordinates": [3]}),
                "polygon 0 is not an array of rings",
            ),
        ];
        for (value, message) in cases {
            let err = parse_geometry(&value).unwrap_err();
            assert_eq!(err.to_string(), message, "for {value}");
        }
        let nan = MultiPolygon(vec![rect(0.0, 0.0, f64::NAN, 1.0)]);
        assert_eq!(
            validate_shape(&nan).unwrap_err().to_string(),
            "position 1 of ring 0 of polygon 0 is not a finite number pair"
        );
    }

    #[test]
    fn multipolygon_and_levels() {
        let index = PlaceIndex::new(vec![
            area("C", 0, vec![rect(0.0, 0.0, 10.0, 10.0)]),
            area(
                "G1",
                4,
                vec![rect(0.0, 0.0, 1.0, 1.0), rect(5.0, 5.0, 6.0, 6.0)],
            ),
            area("M", 3, vec![rect(0.0, 0.0, 5.0, 5.0)]),
        ]);
        assert_eq!(index.len(), 3);
        assert!(!index.is_empty());
        assert_eq!(code_at(&index, 0.5, 0.5), Some("G1"));
        assert_eq!(code_at(&index, 5.5, 5.5), Some("G1"));
        assert_eq!(code_at(&index, 3.0, 3.0), Some("M"));
        assert_eq!(code_at(&index, 8.0, 2.0), Some("C"));
        // The grid's boundary still counts for the grid: deepest level wins.
        assert_eq!(code_at(&index, 1.0, 0.5), Some("G1"));
        assert_eq!(code_at(&index, 11.0, 2.0), None);
        assert_eq!(code_at(&index, f64::NAN, 2.0), None);
        assert_eq!(code_at(&index, 1.0, f64::INFINITY), None);
        assert!(PlaceIndex::new(vec![]).is_empty());
    }

    #[test]
    fn holes_are_outside() {
        let donut = Polygon::new(
            LineString::from(vec![
                (0.0, 0.0),
                (4.0, 0.0),
                (4.0, 4.0),
                (0.0, 4.0),
                (0.0, 0.0),
            ]),
            vec![LineString::from(vec![
                (1.0, 1.0),
                (3.0, 1.0),
                (3.0, 3.0),
                (1.0, 3.0),
                (1.0, 1.0),
            ])],
        );
        let index = PlaceIndex::new(vec![area("A", 4, vec![donut.clone()])]);
        assert_eq!(code_at(&index, 2.0, 2.0), None);
        assert_eq!(code_at(&index, 0.5, 2.0), Some("A"));
        // The hole's ring is A's boundary.
        assert_eq!(code_at(&index, 1.0, 2.0), Some("A"));
        // An island in the hole wins there; on the shared ring interior beats boundary.
        let index = PlaceIndex::new(vec![
            area("A", 4, vec![donut]),
            area("Z", 4, vec![rect(1.0, 1.0, 3.0, 3.0)]),
        ]);
        assert_eq!(code_at(&index, 2.0, 2.0), Some("Z"));
        assert_eq!(code_at(&index, 1.0, 2.0), Some("A"));
        assert_eq!(code_at(&index, 3.0, 3.0), Some("A"));
    }

    #[test]
    fn shared_edges_and_vertices_go_to_smallest_code() {
        // Four unit squares around (1, 1), with codes not in spatial order.
        let index = PlaceIndex::new(vec![
            area("d", 4, vec![rect(0.0, 0.0, 1.0, 1.0)]),
            area("b", 4, vec![rect(1.0, 0.0, 2.0, 1.0)]),
            area("c", 4, vec![rect(0.0, 1.0, 1.0, 2.0)]),
            area("e", 4, vec![rect(1.0, 1.0, 2.0, 2.0)]),
        ]);
        assert_eq!(code_at(&index, 1.0, 1.0), Some("b")); // vertex of all four
        assert_eq!(code_at(&index, 1.0, 0.5), Some("b")); // edge d|b
        assert_eq!(code_at(&index, 0.5, 1.0), Some("c")); // edge d|c
        assert_eq!(code_at(&index, 1.5, 1.0), Some("b")); // edge b|e
        assert_eq!(code_at(&index, 1.0, 1.5), Some("c")); // edge c|e
        assert_eq!(code_at(&index, 0.0, 0.0), Some("d")); // outer corner
        assert_eq!(code_at(&index, 1.5, 1.5), Some("e"));
        // A slanted shared edge: exact predicates see its points as on both.
        let index = PlaceIndex::new(vec![
            area(
                "z",
                4,
                vec![Polygon::new(
                    LineString::from(vec![
                        (0.0, 0.0),
                        (0.3, 0.0),
                        (0.7, 1.0),
                        (0.0, 1.0),
                        (0.0, 0.0),
                    ]),
                    vec![],
                )],
            ),
            area(
                "y",
                4,
                vec![Polygon::new(
                    LineString::from(vec![
                        (0.3, 0.0),
                        (1.0, 0.0),
                        (1.0, 1.0),
                        (0.7, 1.0),
                        (0.3, 0.0),
                    ]),
                    vec![],
                )],
            ),
        ]);
        assert_eq!(code_at(&index, 0.5, 0.5), Some("y"));
        assert_eq!(code_at(&index, 0.5 - 1e-12, 0.5), Some("z"));
    }

    #[test]
    fn forty_thousand_grids() {
        let n = 200;
        let step = 0.001;
        let (x0, y0) = (113.0, 28.0);
        let mut areas = Vec::with_capacity(n * n);
        for j in 0..n {
            for i in 0..n {
                let (x, y) = (x0 + i as f64 * step, y0 + j as f64 * step);
                areas.push(area(
                    &format!("G{j:03}-{i:03}"),
                    4,
                    vec![rect(x, y, x + step, y + step)],
                ));
            }
        }
        let index = PlaceIndex::new(areas);
        assert_eq!(index.len(), n * n);
        for j in (0..n).step_by(7) {
            for i in (0..n).step_by(3) {
                let (x, y) = (x0 + (i as f64 + 0.5) * step, y0 + (j as f64 + 0.25) * step);
                let expected = format!("G{j:03}-{i:03}");
                assert_eq!(code_at(&index, x, y), Some(expected.as_str()));
            }
        }
        assert_eq!(code_at(&index, x0 - 0.0001, y0 + 0.05), None);
        assert_eq!(code_at(&index, x0, y0), Some("G000-000"));
    }

    #[test]
    fn import_reports_every_bad_feature() {
        let text = json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"name": "一网格", "code": "G-1"},
             "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}},
            {"type": "Feature", "properties": {"name": "二网格"},
             "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}},
            {"type": "Feature", "properties": {"name": "三网格", "code": "G-1"},
             "geometry": {"type": "Polygon", "coordinates": [[[1, 0], [2, 0], [2, 1], [1, 0]]]}},
            {"type": "Feature", "properties": {"name": "四网格", "code": "G-12"},
             "geometry": {"type": "Polygon", "coordinates": [[[1, 0], [2, 0], [2, 1], [1, 1]]]}}
        ]})
        .to_string();
        let mapping = ImportMapping {
            name_property: "name".into(),
            code_property: "code".into(),
            parent_property: Some("parent".into()),
            default_parent: Some("C-1".into()),
        };
        let report = parse_feature_collection(&text, &mapping).unwrap_err();
        assert_eq!(report.rejected.len(), 3);
        assert_eq!(
            report.to_string(),
            "feature 1: missing property \"code\"\n\
             feature 2 (code G-1): duplicate code \"G-1\" (also used by feature 0)\n\
             feature 3 (code G-12): ring 0 of polygon 0 is not closed"
        );

        let good = json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"name": " 一网格 ", "code": "G-1", "parent": "C-9"},
             "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}},
            {"type": "Feature", "properties": {"name": "二网格", "code": "G-2"},
             "geometry": {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]]]}}
        ]})
        .to_string();
        let features = parse_feature_collection(&good, &mapping).unwrap();
        assert_eq!(features.len(), 2);
        assert_eq!(features[0].name, "一网格");
        assert_eq!(features[0].parent_code, "C-9");
        assert_eq!(features[1].parent_code, "C-1");
        assert_eq!(features[1].index, 1);
    }

    #[test]
    fn import_top_level_and_field_errors() {
        let mapping = ImportMapping {
            name_property: "名称".into(),
            code_property: "编码".into(),
            parent_property: None,
            default_parent: None,
        };
        let top = |t: &str| {
            parse_feature_collection(t, &mapping)
                .unwrap_err()
                .top_level
                .unwrap()
        };
        assert!(top("{nope").starts_with("the file is not valid JSON"));
        assert!(top(r#"{"type": "Feature"}"#).contains("not a GeoJSON FeatureCollection"));
        assert!(top(r#"{"type": "FeatureCollection"}"#).contains("no \"features\" array"));
        assert!(top(r#"{"type": "FeatureCollection", "features": []}"#).contains("no features"));

        let text = json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"名称": 5, "编码": ""}, "geometry": null},
            7
        ]})
        .to_string();
        let report = parse_feature_collection(&text, &mapping).unwrap_err();
        assert_eq!(
            report.to_string(),
            "feature 0: property \"名称\" is not a string; property \"编码\" is empty; \
             no parent: no parent property is mapped and no default parent is set; \
             the feature has no geometry\n\
             feature 1: not a GeoJSON Feature object"
        );
    }

    /// Breakpoints → sorted distinct coordinates starting at 0.
    fn breaks(steps: &[u8]) -> Vec<f64> {
        let mut out = vec![0.0];
        for s in steps {
            let last = out[out.len() - 1];
            out.push(last + f64::from(*s) * 0.25);
        }
        out
    }

    proptest! {
        #[test]
        fn random_tiling_locates_the_right_cell(
            xs in prop::collection::vec(1u8..8, 1..7),
            ys in prop::collection::vec(1u8..8, 1..7),
            code_seed in any::<u64>(),
            px in 0usize..64,
            py in 0usize..64,
            fx in 0u8..4,
            fy in 0u8..4,
        ) {
            let (bx, by) = (breaks(&xs), breaks(&ys));
            let mut cells = Vec::new();
            for j in 0..by.len() - 1 {
                for i in 0..bx.len() - 1 {
                    // Codes scrambled so that spatial order and code order differ.
                    let k = (i * 31 + j * 17) as u64 ^ code_seed;
                    let code = format!("{:016x}-{i}-{j}", k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    cells.push((bx[i], by[j], bx[i + 1], by[j + 1], code));
                }
            }
            let index = PlaceIndex::new(
                cells.iter().map(|(x0, y0, x1, y1, c)| area(c, 4, vec![rect(*x0, *y0, *x1, *y1)])).collect(),
            );
            // Points on lines, on vertices and inside cells, sometimes just outside.
            let pick = |b: &[f64], k: usize, f: u8| -> f64 {
                let i = k % b.len();
                match f {
                    0 => b[i],
                    1 => if i + 1 < b.len() { (b[i] + b[i + 1]) / 2.0 } else { b[i] + 0.1 },
                    2 => b[i] + 0.03,
                    _ => b[i] - 0.03,
                }
            };
            let (x, y) = (pick(&bx, px, fx), pick(&by, py, fy));
            let interior = cells.iter().find(|(x0, y0, x1, y1, _)| *x0 < x && x < *x1 && *y0 < y && y < *y1);
            let expected = match interior {
                Some(c) => Some(c.4.as_str()),
                None => cells
                    .iter()
                    .filter(|(x0, y0, x1, y1, _)| *x0 <= x && x <= *x1 && *y0 <= y && y <= *y1)
                    .map(|c| c.4.as_str())
                    .min(),
            };
            prop_assert_eq!(code_at(&index, x, y), expected);
            prop_assert_eq!(index.locate_via(x, y, true).map(|a| a.code.as_str()), expected);
        }
    }
}
