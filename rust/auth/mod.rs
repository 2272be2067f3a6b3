//! Authentication and authorization before Python (issue 18): the layers of
//! `covetpy.auth` (JWT, API keys) verify a request's credential on the IO thread, after
//! routing, and the route's requirements are checked against what they verified. A refusal
//! is answered here (401/403, `answer.rs`) and never reaches Python; what was verified goes
//! with the job as an [`Identity`] that Python turns into `request.auth` only when asked.
//!
//! One file per idea: where credentials are read (`credential.rs`), the JWT layer (`jwt.rs`,
//! its keys `keys.rs` and the claims it reads `claims.rs`), API keys (`apikey.rs`), route
//! requirements (`policy.rs`), the answers (`answer.rs`). No pyo3 here.
//!
//! Python still decides in two cases, named by [`Pending`]: a layer verified in Python (a
//! callable API-key lookup, Basic with a `verify` function, sessions) when no Rust layer found
//! a credential, and a token naming a `kid` the JWKS does not have, while a refresh is
//! allowed (Python fetches the set, hands it over, and has the request checked again).

pub mod answer;
pub mod apikey;
pub mod claims;
pub mod credential;
pub mod failure;
pub mod identity;
pub mod jwt;
pub mod keys;
pub mod policy;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

pub use answer::Challenge;
pub use failure::Failure;
pub use identity::Identity;
pub use policy::{Requirement, RoleTable, RoutePolicy};

use crate::log;
use crate::metrics::AuthFailure;
use crate::protocol::h1::RequestHead;
use crate::protocol::response::Response;

/// One authentication layer, in the user's declared order.
pub enum Scheme {
    /// Bearer JWTs (boxed: 600 bytes of validation settings against 100 for the others).
    Jwt(Box<jwt::Jwt>),
    /// API keys.
    ApiKey(apikey::ApiKeys),
    /// A layer verified in Python (Basic, sessions, ...): its challenge only.
    Python(Challenge),
}

impl Scheme {
    fn challenge(&self) -> Challenge {
        match self {
            Scheme::Jwt(_) => Challenge::Bearer,
            Scheme::ApiKey(k) => Challenge::ApiKey {
                param: match (&k.config().header, &k.config().query) {
                    (Some(h), _) => format!("header=\"{h}\""),
                    (None, Some(q)) => format!("query=\"{q}\""),
                    (None, None) => String::new(),
                },
            },
            Scheme::Python(c) => c.clone(),
        }
    }
}

/// What Python must still decide for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// No Rust layer found a credential; the Python layers look for theirs.
    Python,
    /// JWT layer `n` met an unknown `kid`: refresh its JWKS, then check again.
    Refresh(usize),
}

/// The decision for one request.
#[derive(Debug)]
pub enum Outcome {
    /// No credential, and the route does not need one.
    Anonymous,
    /// Verified, and the route's requirements hold.
    Verified(Arc<Identity>),
    /// Python decides (see [`Pending`]).
    Pending(Pending),
    /// Refused: answer [`Auth::refusal`].
    Refused(Failure, Option<usize>),
}

/// The authentication layers and route policies of a worker, shared by its IO threads.
pub struct Auth {
    schemes: Vec<Scheme>,
    /// Whether each scheme is optional (a request without its credential goes on).
    optional: Vec<bool>,
    /// By route id; routes past the end have the default policy.
    policies: Vec<RoutePolicy>,
    roles: RoleTable,
    realm: String,
    /// Every decision is logged (`--audit-log`), not only refusals.
    audit_all: bool,
}

impl Auth {
    /// The layers (with whether each is optional), the policy of each route id, the
    /// role-permission table, the realm of the challenges, and whether to log every decision.
    pub fn new(
        schemes: Vec<(Scheme, bool)>,
        policies: Vec<RoutePolicy>,
        roles: RoleTable,
        realm: String,
        audit_all: bool,
    ) -> Auth {
        let (schemes, optional) = schemes.into_iter().unzip();
        Auth {
            schemes,
            optional,
            policies,
            roles,
            realm,
            audit_all,
        }
    }

    /// The JWT layer at `index` (for Python's JWKS refresh).
    pub fn jwt(&self, index: usize) -> Option<&jwt::Jwt> {
        match self.schemes.get(index) {
            Some(Scheme::Jwt(j)) => Some(&**j),
            _ => None,
        }
    }

    /// The role-permission table.
    pub fn roles(&self) -> &RoleTable {
        &self.roles
    }

    /// The policy of `route`.
    pub fn policy(&self, route: usize) -> Option<&RoutePolicy> {
        self.policies.get(route)
    }

    /// Decides for a request routed to `route`. `refresh_ok`: whether an unknown `kid` may
    /// ask Python for a JWKS refresh; `python_ok`: whether Python can be asked at all (not
    /// for responses fixed at start-up).
    pub fn check(
        &self,
        head: &RequestHead,
        route: usize,
        now: Instant,
        refresh_ok: bool,
        python_ok: bool,
    ) -> Outcome {
        let mut found = None;
        let mut python = false;
        for (i, scheme) in self.schemes.iter().enumerate() {
            match scheme {
                Scheme::Jwt(j) => match j.check(head, now, refresh_ok && python_ok) {
                    jwt::Verdict::Absent => {}
                    jwt::Verdict::Valid(id) => {
                        found = Some((id, i));
                        break;
                    }
                    jwt::Verdict::Invalid(f) => return Outcome::Refused(f, Some(i)),
                    jwt::Verdict::Refresh => return Outcome::Pending(Pending::Refresh(i)),
                },
                Scheme::ApiKey(k) => match k.check(head) {
                    apikey::KeyVerdict::Absent => {}
                    apikey::KeyVerdict::Valid(id) => {
                        found = Some((id, i));
                        break;
                    }
                    apikey::KeyVerdict::Invalid(f) => return Outcome::Refused(f, Some(i)),
                    apikey::KeyVerdict::Python => python = true,
                },
                Scheme::Python(_) => python = true,
            }
        }
        let policy = self.policies.get(route);
        match found {
            Some((id, i)) => {
                for req in policy.map(|p| p.requires.as_slice()).unwrap_or(&[]) {
                    if let Some(f) = req.check(&id, &self.roles) {
                        return Outcome::Refused(f, Some(i));
                    }
                }
                Outcome::Verified(Arc::new(id))
            }
            None if python && python_ok => Outcome::Pending(Pending::Python),
            None => {
                let public = policy.is_some_and(|p| p.public);
                let needed = policy.is_some_and(|p| p.needs_identity())
                    || (!public && self.optional.iter().any(|o| !o));
                if needed {
                    Outcome::Refused(
                        Failure::new(AuthFailure::Missing, "authentication required"),
                        None,
                    )
                } else {
                    Outcome::Anonymous
                }
            }
        }
    }

    /// The answer to a refusal by layer `by` (None: no credential; every layer challenges).
    pub fn refusal(&self, failure: &Failure, by: Option<usize>) -> Response {
        answer::refusal(failure, &self.challenges(failure, by))
    }

    /// The `WWW-Authenticate` values of a refusal by layer `by` (None: every layer's).
    pub fn challenges(&self, failure: &Failure, by: Option<usize>) -> Vec<String> {
        match by.and_then(|i| self.schemes.get(i)) {
            Some(s) => vec![s.challenge().value(&self.realm, failure)],
            None => self
                .schemes
                .iter()
                .map(|s| s.challenge().value(&self.realm, failure))
                .collect(),
        }
    }

    /// Writes the audit event of a decision: refusals always (at info level), grants when
    /// every decision is logged. Never the credential; the path without its query (a key may
    /// ride in it).
    pub fn audit(
        &self,
        head: &RequestHead,
        outcome: &Outcome,
        request_id: Option<&str>,
        peer: &crate::io::Peer,
    ) {
        let (result, reason, scheme, subject) = match outcome {
            Outcome::Refused(f, by) => (
                if f.forbidden() {
                    "forbidden"
                } else {
                    "unauthorized"
                },
                f.reason.label(),
                by.and_then(|i| self.schemes.get(i)).map_or("", scheme_name),
                None,
            ),
            Outcome::Verified(id) if self.audit_all => {
                ("granted", "", &*id.scheme, id.subject.as_deref())
            }
            Outcome::Anonymous if self.audit_all => ("anonymous", "", "", None),
            _ => return,
        };
        log::audit(
            result,
            reason,
            scheme,
            subject,
            head.method().as_str(),
            head.path(),
            request_id,
            // Formatted only here: most decisions (grants without --audit-log) log nothing.
            &peer.to_string(),
        );
    }
}

fn scheme_name(s: &Scheme) -> &'static str {
    match s {
        Scheme::Jwt(_) => "jwt",
        Scheme::ApiKey(_) => "api_key",
        Scheme::Python(_) => "python",
    }
}
