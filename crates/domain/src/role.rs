//! Staff roles. Each assignment of a role is scoped to a unit subtree.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 受理员: takes requests in.
    Operator,
    /// 分拨员: routes cases to units.
    Dispatcher,
    /// 承办人: handles cases in a unit.
    Handler,
    /// 网格员: reports and verifies in a grid.
    GridWorker,
    /// 调解员: runs mediation.
    Mediator,
    /// 督办员: oversees, issues supervision orders.
    Supervisor,
    /// Administrator of units, users, packs within the scope.
    Admin,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Operator,
        Role::Dispatcher,
        Role::Handler,
        Role::GridWorker,
        Role::Mediator,
        Role::Supervisor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Dispatcher => "dispatcher",
            Role::Handler => "handler",
            Role::GridWorker => "grid_worker",
            Role::Mediator => "mediator",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Role::Operator => "受理员",
            Role::Dispatcher => "分拨员",
            Role::Handler => "承办人",
            Role::GridWorker => "网格员",
            Role::Mediator => "调解员",
            Role::Supervisor => "督办员",
            Role::Admin => "管理员",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
