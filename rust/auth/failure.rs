//! Why a request was refused, and what the client is told.

use crate::metrics::AuthFailure;

/// A refusal: the reason (for metrics and the audit log; never the credential) and the
/// description the client gets in `error_description` and the problem's `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What failed.
    pub reason: AuthFailure,
    /// Said to the client: which check failed, never the credential.
    pub description: String,
    /// For 403s: the scopes, roles or permissions that are missing (space-separated).
    pub missing: Option<String>,
}

impl Failure {
    /// A refusal for `reason`, described by `description`.
    pub fn new(reason: AuthFailure, description: impl Into<String>) -> Failure {
        Failure {
            reason,
            description: description.into(),
            missing: None,
        }
    }

    /// Whether this is a 403 (authenticated, not allowed) rather than a 401.
    pub fn forbidden(&self) -> bool {
        matches!(
            self.reason,
            AuthFailure::InsufficientScope
                | AuthFailure::InsufficientRole
                | AuthFailure::InsufficientPermission
        )
    }
}
