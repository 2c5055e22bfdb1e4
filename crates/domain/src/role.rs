//! Staff roles. The platform's own role (`admin`) is here; every other role is
//! declared by a pack (`[roles.<id>]`) with its names and what it may do beyond
//! the actions that list it. Each assignment of a role is scoped to a unit
//! subtree.
//!
//! A role is an interned name so that it stays `Copy` and cheap to compare in
//! the access checks that run on every read. Names enter the interner only from
//! pack declarations and from stored grants, never from request text, so the
//! set stays as small as the packs and the database make it.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use serde::{Serialize, Serializer};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Role(&'static str);

/// Engine pages a role may work at. A page is shown to a user who holds a role
/// that names it; which cases appear there still follows the actions.
pub const PAGES: [&str; 4] = ["intake", "dispatch_board", "grid", "assists"];

fn interned() -> &'static Mutex<BTreeSet<&'static str>> {
    static NAMES: OnceLock<Mutex<BTreeSet<&'static str>>> = OnceLock::new();
    NAMES.get_or_init(|| Mutex::new(BTreeSet::from([Role::ADMIN.0])))
}

impl Role {
    /// 管理员: administers units, users and packs within its scope.
    pub const ADMIN: Role = Role("admin");

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The role of this name if a pack or a stored grant has made it known.
    /// Text from requests goes through here, so it can never grow the set;
    /// callers that need "declared by a loaded pack" ask the pack set.
    pub fn parse(text: &str) -> Option<Role> {
        let names = interned().lock().unwrap_or_else(|e| e.into_inner());
        names.get(text).map(|name| Role(name))
    }

    /// Makes a role name known: for pack declarations and stored grants only.
    pub fn intern(text: &str) -> Role {
        let mut names = interned().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(name) = names.get(text) {
            return Role(name);
        }
        let name: &'static str = Box::leak(text.to_owned().into_boxed_str());
        names.insert(name);
        Role(name)
    }
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Role({})", self.0)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_interned_names_parse() {
        assert_eq!(Role::parse("admin"), Some(Role::ADMIN));
        assert_eq!(Role::parse("role-test-never-declared"), None);
        let declared = Role::intern("role_test_declared");
        assert_eq!(Role::parse("role_test_declared"), Some(declared));
        assert_eq!(Role::intern("role_test_declared"), declared);
        assert_eq!(declared.as_str(), "role_test_declared");
    }
}
