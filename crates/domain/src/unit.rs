//! Units (单位): the tree 市 → 区 → 街道/乡镇 → 社区/村 → 网格, plus departments
//! (部门) attached at any level.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    City,
    District,
    Street,
    Community,
    Grid,
    Department,
}

impl UnitKind {
    pub const ALL: [UnitKind; 6] = [
        UnitKind::City,
        UnitKind::District,
        UnitKind::Street,
        UnitKind::Community,
        UnitKind::Grid,
        UnitKind::Department,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::City => "city",
            UnitKind::District => "district",
            UnitKind::Street => "street",
            UnitKind::Community => "community",
            UnitKind::Grid => "grid",
            UnitKind::Department => "department",
        }
    }

    pub fn parse(text: &str) -> Option<UnitKind> {
        UnitKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Depth in the area tree; departments have none of their own.
    pub fn area_level(self) -> Option<u8> {
        match self {
            UnitKind::City => Some(0),
            UnitKind::District => Some(1),
            UnitKind::Street => Some(2),
            UnitKind::Community => Some(3),
            UnitKind::Grid => Some(4),
            UnitKind::Department => None,
        }
    }

    /// Whether a unit of this kind may sit directly under a parent of `parent` kind.
    /// Area units go exactly one level down; a department may hang under any area unit
    /// or another department (a section of a bureau).
    pub fn may_have_parent(self, parent: Option<UnitKind>) -> bool {
        match (self, parent) {
            (UnitKind::City, None) => true,
            (_, None) => false,
            (UnitKind::Department, Some(p)) => p != UnitKind::Grid,
            (child, Some(p)) => match (child.area_level(), p.area_level()) {
                (Some(c), Some(pl)) => c == pl + 1,
                _ => false,
            },
        }
    }
}

/// The materialised path of a unit: `/id1/id2/.../idN/`. A unit lies in the
/// subtree of `scope` exactly when its path starts with the scope's path.
pub fn child_path(parent_path: Option<&str>, id: &str) -> String {
    match parent_path {
        Some(p) => format!("{p}{id}/"),
        None => format!("/{id}/"),
    }
}

pub fn path_within(path: &str, scope_path: &str) -> bool {
    path.starts_with(scope_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_shape_rules() {
        assert!(UnitKind::City.may_have_parent(None));
        assert!(UnitKind::District.may_have_parent(Some(UnitKind::City)));
        assert!(!UnitKind::Street.may_have_parent(Some(UnitKind::City)));
        assert!(UnitKind::Grid.may_have_parent(Some(UnitKind::Community)));
        assert!(UnitKind::Department.may_have_parent(Some(UnitKind::Street)));
        assert!(!UnitKind::Department.may_have_parent(Some(UnitKind::Grid)));
        assert!(!UnitKind::Grid.may_have_parent(None));
    }

    #[test]
    fn paths_nest() {
        let city = child_path(None, "c");
        let district = child_path(Some(&city), "d");
        assert_eq!(district, "/c/d/");
        assert!(path_within(&district, &city));
        assert!(!path_within(&city, &district));
        // A sibling whose id shares a prefix is not inside.
        assert!(!path_within("/c/dx/", "/c/d/"));
    }
}
