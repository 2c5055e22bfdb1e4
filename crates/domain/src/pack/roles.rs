//! Staff roles declared by a pack (`[roles.<id>]`): their names, whether their
//! work needs personal data in clear, and the engine pages they work at. What
//! a role may do on a case is said by the actions that list it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Ctx, Loc, Names, Table, check_id, entry_loc};
use crate::role::{PAGES, Role};

/// One role as a pack declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleDef {
    pub role: Role,
    pub name: Names,
    /// Whether the role may reveal personal values in clear (with a logged
    /// purpose). Roles that only oversee or administer see masked values.
    pub reveal_personal: bool,
    /// Engine pages (`role::PAGES`) this role works at.
    pub pages: Vec<String>,
    /// Which cases in the holder's unit subtree the role sees.
    pub sees: Sees,
}

/// Which cases a role's holders see within the unit subtree of their grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sees {
    /// Every case the subtree holds or lies in (the default).
    #[default]
    Subtree,
    /// Only the cases assigned to the holder in person (a pool mediator, a
    /// case officer): access follows the assignment and ends with it.
    Assigned,
}

impl RoleDef {
    /// The platform's own role, present whatever packs are loaded.
    pub fn admin() -> RoleDef {
        RoleDef {
            role: Role::ADMIN,
            name: Names {
                zh: "管理员".into(),
                en: "Administrator".into(),
            },
            reveal_personal: false,
            pages: Vec::new(),
            sees: Sees::Subtree,
        }
    }

    pub fn works_at(&self, page: &str) -> bool {
        self.pages.iter().any(|p| p == page)
    }
}

/// Parses the pack's `[roles]` table: role id → definition, with where each
/// was declared (for conflicts between packs).
pub(super) fn parse_roles(ctx: &mut Ctx, top: &Table) -> BTreeMap<String, (RoleDef, Loc)> {
    let mut roles = BTreeMap::new();
    let Some(table) = top.id_table(ctx, "roles", false) else {
        return roles;
    };
    for (key, node) in table.entries {
        check_id(ctx, &key.name, &key.span, "role id");
        if key.name == Role::ADMIN.as_str() {
            let msg = "`admin` is the platform's own role; a pack may use it but not declare it";
            ctx.err(&key.span, msg);
            continue;
        }
        let loc = entry_loc(key, node);
        let what = format!("role `{}`", key.name);
        let Some(t) = Table::new(ctx, node, loc.clone(), what) else {
            continue;
        };
        t.check_keys(ctx, &["name", "reveal_personal", "pages", "sees"]);
        let sees = match t.string(ctx, "sees", false) {
            None => Sees::Subtree,
            Some((value, _)) if value == "subtree" => Sees::Subtree,
            Some((value, _)) if value == "assigned" => Sees::Assigned,
            Some((value, loc)) => {
                let msg = format!("`sees` must be \"subtree\" or \"assigned\", found {value:?}");
                ctx.err(&loc, msg);
                Sees::Subtree
            }
        };
        let name = t.names(ctx, "name");
        let reveal_personal = t.boolean(ctx, "reveal_personal").unwrap_or(false);
        let mut pages = Vec::new();
        for (page, page_loc) in t.string_list(ctx, "pages").unwrap_or_default() {
            if !PAGES.contains(&page.as_str()) {
                let msg = format!(
                    "unknown page `{page}` (expected one of: {})",
                    PAGES.join(", ")
                );
                ctx.err(&page_loc, msg);
            } else if pages.contains(&page) {
                ctx.err(&page_loc, format!("page `{page}` is listed twice"));
            } else {
                pages.push(page);
            }
        }
        if let Some(name) = name {
            let def = RoleDef {
                role: Role::intern(&key.name),
                name,
                reveal_personal,
                pages,
                sees,
            };
            roles.insert(key.name.clone(), (def, loc));
        }
    }
    roles
}
