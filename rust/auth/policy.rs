//! What routes require of an identity (`covetpy.auth.requires`), checked in Rust for the
//! identities Rust verified.

use std::collections::HashMap;

use super::failure::Failure;
use super::identity::Identity;
use crate::metrics::AuthFailure;

/// One requirement: every scope, every role, every permission; or, when `any_of` is not
/// empty, also one of the alternatives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirement {
    /// Scopes the identity must hold.
    pub scopes: Vec<String>,
    /// Roles the identity must hold.
    pub roles: Vec<String>,
    /// Permissions the identity must hold (its scopes, plus what its roles grant).
    pub permissions: Vec<String>,
    /// Alternatives, one of which must hold too.
    pub any_of: Vec<Requirement>,
}

/// A route's policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutePolicy {
    /// Answered without authentication even when a layer is not optional (the docs).
    pub public: bool,
    /// Requirements that must all hold (the app's, the routers', the route's); an empty
    /// requirement means "authenticated".
    pub requires: Vec<Requirement>,
}

impl RoutePolicy {
    /// Whether the route needs an identity whatever the layers say.
    pub fn needs_identity(&self) -> bool {
        !self.requires.is_empty()
    }
}

/// Role -> permissions it grants (`App(role_permissions=...)`).
pub type RoleTable = HashMap<String, Vec<String>>;

impl Requirement {
    /// None when `id` satisfies it, else why not (the first unmet part).
    pub fn check(&self, id: &Identity, table: &RoleTable) -> Option<Failure> {
        let own = self.check_own(id, table);
        if own.is_some() || self.any_of.is_empty() {
            return own;
        }
        let mut first = None;
        for alt in &self.any_of {
            match alt.check(id, table) {
                None => return None,
                Some(f) => {
                    first.get_or_insert(f);
                }
            }
        }
        first
    }

    fn check_own(&self, id: &Identity, table: &RoleTable) -> Option<Failure> {
        let missing: Vec<&str> = self
            .scopes
            .iter()
            .filter(|s| !id.has_scope(s))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Some(insufficient(
                AuthFailure::InsufficientScope,
                "scope",
                &missing,
            ));
        }
        let missing: Vec<&str> = self
            .roles
            .iter()
            .filter(|r| !id.has_role(r))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Some(insufficient(
                AuthFailure::InsufficientRole,
                "role",
                &missing,
            ));
        }
        let missing: Vec<&str> = self
            .permissions
            .iter()
            .filter(|p| !id.has_scope(p) && !granted(id, table, p))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Some(insufficient(
                AuthFailure::InsufficientPermission,
                "permission",
                &missing,
            ));
        }
        None
    }
}

fn granted(id: &Identity, table: &RoleTable, permission: &str) -> bool {
    id.roles.iter().any(|r| {
        table
            .get(&**r)
            .is_some_and(|perms| perms.iter().any(|p| p == permission))
    })
}

fn insufficient(reason: AuthFailure, what: &str, missing: &[&str]) -> Failure {
    let list = missing.join(" ");
    let plural = if missing.len() == 1 { "" } else { "s" };
    Failure {
        reason,
        description: format!("missing {what}{plural}: {list}"),
        missing: Some(list),
    }
}
