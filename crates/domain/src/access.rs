//! Who may see and do what. Every read and every action on a case is decided
//! here, from the actor's role assignments (each scoped to a unit subtree) and
//! the paths of the units the case belongs to (its holder and its area).

use serde::Serialize;

use crate::role::Role;
use crate::unit::path_within;

/// One role held over one unit subtree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub role: Role,
    pub unit_id: String,
    /// Materialised path of the scope unit (`/city/district/`).
    pub unit_path: String,
    /// The grant covers only cases assigned to the holder in person (the
    /// role's `sees` says so), not every case of the subtree.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub assigned_only: bool,
}

/// An authenticated staff member or system, with their assignments.
#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub assignments: Vec<Assignment>,
}

/// The unit paths that place a case: the unit holding it and the area it lies in.
#[derive(Debug, Clone, Default)]
pub struct CaseScope {
    pub holder_path: String,
    pub area_path: Option<String>,
    /// Units with an open assist task on the case (吹哨报到): they see it, and
    /// may act on it only for their task.
    pub assist_paths: Vec<String>,
    /// The user the case is assigned to in person, if any.
    pub assignee: Option<String>,
}

impl CaseScope {
    fn paths(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.holder_path.as_str())
            .chain(self.area_path.as_deref())
            .chain(self.assist_paths.iter().map(String::as_str))
    }

    /// The same case seen only through its holder and area, for actions that
    /// assisting units may not take.
    pub fn without_assists(&self) -> CaseScope {
        CaseScope {
            holder_path: self.holder_path.clone(),
            area_path: self.area_path.clone(),
            assist_paths: Vec::new(),
            assignee: self.assignee.clone(),
        }
    }

    /// Only the assisting units' part of the scope.
    pub fn assists_only(&self) -> CaseScope {
        // No unit path starts with NUL, so no scope covers this holder.
        CaseScope {
            holder_path: String::from("\u{0}"),
            area_path: None,
            assist_paths: self.assist_paths.clone(),
            assignee: self.assignee.clone(),
        }
    }
}

impl Actor {
    fn covers(&self, assignment: &Assignment, case: &CaseScope) -> bool {
        if assignment.assigned_only && case.assignee.as_deref() != Some(self.user_id.as_str()) {
            return false;
        }
        case.paths().any(|p| path_within(p, &assignment.unit_path))
    }

    /// Whether the actor may see the case at all. Out-of-scope cases must be
    /// answered as if they did not exist.
    pub fn can_see(&self, case: &CaseScope) -> bool {
        self.assignments.iter().any(|a| self.covers(a, case))
    }

    /// The roles the actor holds over this case, deduplicated, in role order.
    pub fn roles_over(&self, case: &CaseScope) -> Vec<Role> {
        let mut roles: Vec<Role> = self
            .assignments
            .iter()
            .filter(|a| self.covers(a, case))
            .map(|a| a.role)
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }

    /// The assignment under which the actor acts with `role` on this case: the
    /// narrowest scope (longest path) that covers it, so the acting unit is the
    /// most specific one.
    pub fn acting_assignment(&self, role: Role, case: &CaseScope) -> Option<&Assignment> {
        self.assignments
            .iter()
            .filter(|a| a.role == role && self.covers(a, case))
            .max_by_key(|a| a.unit_path.len())
    }

    /// The assignment under which the actor creates a case with one of `roles`,
    /// optionally at a named unit. Creation has no case yet, so the acting unit
    /// is the assignment's own unit.
    pub fn creating_assignment(
        &self,
        roles: &[Role],
        at_unit: Option<&str>,
    ) -> Option<&Assignment> {
        self.assignments
            .iter()
            .filter(|a| roles.contains(&a.role))
            .find(|a| at_unit.is_none_or(|u| u == a.unit_id))
    }

    /// Whether the actor holds `role` over the unit at `unit_path`.
    pub fn has_role_over(&self, role: Role, unit_path: &str) -> bool {
        self.assignments
            .iter()
            .any(|a| a.role == role && path_within(unit_path, &a.unit_path))
    }

    /// Scope paths for filtering lists in the database: a case is listed when its
    /// holder or area path starts with one of these. Grants that cover only
    /// assigned cases are left out (see [`Actor::assigned_scope_paths`]), so
    /// figures over a subtree never count cases their holder may not see.
    pub fn scope_paths(&self) -> Vec<String> {
        Self::minimal_paths(
            self.assignments
                .iter()
                .filter(|a| !a.assigned_only)
                .map(|a| a.unit_path.clone())
                .collect(),
        )
    }

    /// Scope paths of the grants that cover only the cases assigned to the
    /// actor: such a case is listed when it lies under one of these and its
    /// assignee is the actor.
    pub fn assigned_scope_paths(&self) -> Vec<String> {
        Self::minimal_paths(
            self.assignments
                .iter()
                .filter(|a| a.assigned_only)
                .map(|a| a.unit_path.clone())
                .collect(),
        )
    }

    fn minimal_paths(mut paths: Vec<String>) -> Vec<String> {
        paths.sort();
        paths.dedup();
        // A scope inside another adds nothing.
        let mut minimal: Vec<String> = Vec::new();
        for p in paths {
            if !minimal.iter().any(|m| path_within(&p, m)) {
                minimal.push(p);
            }
        }
        minimal
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.assignments.iter().any(|a| a.role == role)
    }

    /// Whether the actor holds any of these roles anywhere.
    pub fn holds_any(&self, roles: &[Role]) -> bool {
        self.assignments.iter().any(|a| roles.contains(&a.role))
    }

    /// The actor reduced to the assignments of these roles, if any remain:
    /// a page that works for some roles lists exactly the cases they cover.
    pub fn only_with(&self, roles: &[Role]) -> Option<Actor> {
        let assignments: Vec<Assignment> = self
            .assignments
            .iter()
            .filter(|a| roles.contains(&a.role))
            .cloned()
            .collect();
        (!assignments.is_empty()).then(|| Actor {
            assignments,
            ..self.clone()
        })
    }

    /// Whether the actor administers an account whose grants lie at
    /// `grant_paths`: only when every one of them lies inside the actor's
    /// admin subtrees. Managing an account (its password, its keys, its
    /// standing) hands over all of its powers, so one grant beyond the
    /// administration is enough to refuse; an account without grants has
    /// no powers to hand over.
    pub fn administers_account<'a>(&self, mut grant_paths: impl Iterator<Item = &'a str>) -> bool {
        self.has_role(Role::ADMIN) && grant_paths.all(|p| self.has_role_over(Role::ADMIN, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(assignments: &[(Role, &str)]) -> Actor {
        Actor {
            user_id: "u".into(),
            username: "u".into(),
            display_name: "u".into(),
            assignments: assignments
                .iter()
                .map(|(r, p)| Assignment {
                    role: *r,
                    unit_id: p.trim_matches('/').rsplit('/').next().unwrap_or("").into(),
                    unit_path: (*p).into(),
                    assigned_only: false,
                })
                .collect(),
        }
    }

    #[test]
    fn scope_covers_holder_or_area() {
        let a = actor(&[(Role::intern("handler"), "/c/d1/")]);
        let in_holder = CaseScope {
            holder_path: "/c/d1/s1/".into(),
            area_path: None,
            assist_paths: vec![],
            assignee: None,
        };
        let in_area = CaseScope {
            holder_path: "/c/dept/".into(),
            area_path: Some("/c/d1/s1/g1/".into()),
            assist_paths: vec![],
            assignee: None,
        };
        let outside = CaseScope {
            holder_path: "/c/d2/".into(),
            area_path: Some("/c/d2/s/".into()),
            assist_paths: vec![],
            assignee: None,
        };
        assert!(a.can_see(&in_holder));
        assert!(a.can_see(&in_area));
        assert!(!a.can_see(&outside));
        assert_eq!(a.roles_over(&outside), vec![]);
        assert_eq!(a.roles_over(&in_holder), vec![Role::intern("handler")]);
    }

    #[test]
    fn acting_assignment_prefers_narrowest_scope() {
        let a = actor(&[
            (Role::intern("dispatcher"), "/c/"),
            (Role::intern("dispatcher"), "/c/d1/"),
        ]);
        let case = CaseScope {
            holder_path: "/c/d1/s/".into(),
            area_path: None,
            assist_paths: vec![],
            assignee: None,
        };
        assert_eq!(
            a.acting_assignment(Role::intern("dispatcher"), &case)
                .map(|x| x.unit_path.as_str()),
            Some("/c/d1/")
        );
    }

    #[test]
    fn assisting_units_see_but_only_through_their_part() {
        let a = actor(&[(Role::intern("handler"), "/c/d2/dept/")]);
        let case = CaseScope {
            holder_path: "/c/d1/".into(),
            area_path: Some("/c/d1/g/".into()),
            assist_paths: vec!["/c/d2/dept/".into()],
            assignee: None,
        };
        assert!(a.can_see(&case));
        assert!(a.roles_over(&case.without_assists()).is_empty());
        assert_eq!(
            a.roles_over(&case.assists_only()),
            vec![Role::intern("handler")]
        );
    }

    #[test]
    fn an_assigned_only_grant_covers_only_the_holders_own_cases() {
        let mut pool = actor(&[(Role::intern("mediator"), "/c/")]);
        pool.assignments[0].assigned_only = true;
        let mut case = CaseScope {
            holder_path: "/c/d1/".into(),
            area_path: None,
            assist_paths: vec![],
            assignee: None,
        };
        assert!(!pool.can_see(&case));
        case.assignee = Some("someone else".into());
        assert!(!pool.can_see(&case));
        assert!(pool.roles_over(&case).is_empty());
        case.assignee = Some(pool.user_id.clone());
        assert!(pool.can_see(&case));
        assert_eq!(pool.roles_over(&case), vec![Role::intern("mediator")]);
        // Still only within the grant's subtree.
        case.holder_path = "/x/".into();
        assert!(!pool.can_see(&case));
        // Lists see it only through the assigned scopes; figures not at all.
        assert!(pool.scope_paths().is_empty());
        assert_eq!(pool.assigned_scope_paths(), vec!["/c/".to_string()]);
    }

    #[test]
    fn scope_paths_are_minimal() {
        let a = actor(&[
            (Role::intern("handler"), "/c/d1/"),
            (Role::intern("operator"), "/c/"),
            (Role::intern("mediator"), "/x/"),
        ]);
        assert_eq!(a.scope_paths(), vec!["/c/".to_string(), "/x/".to_string()]);
    }

    #[test]
    fn an_account_is_administered_only_when_every_grant_lies_inside() {
        let district_admin = actor(&[(Role::ADMIN, "/C/D1/")]);
        let inside = ["/C/D1/S1/", "/C/D1/"];
        assert!(district_admin.administers_account(inside.into_iter()));
        // One city-wide grant makes the account someone else's to manage.
        let wider = ["/C/D1/S1/", "/C/"];
        assert!(!district_admin.administers_account(wider.into_iter()));
        let elsewhere = ["/C/D2/"];
        assert!(!district_admin.administers_account(elsewhere.into_iter()));
        assert!(district_admin.administers_account(std::iter::empty()));
        // A non-admin administers nothing, not even an empty account.
        let handler = actor(&[(Role::intern("handler"), "/C/")]);
        assert!(!handler.administers_account(std::iter::empty()));
    }
}
