//! Why a route table is refused at start-up: one enum shared by the pattern parser and the table.

use std::fmt;

/// Why a route table was rejected at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// The path pattern is malformed; `reason` says how.
    InvalidPath {
        /// The offending pattern as declared.
        path: String,
        /// Human-readable explanation.
        reason: String,
    },
    /// Two routes can never be told apart; both are rendered as `METHODS path`.
    Conflict {
        /// The route being added.
        route: String,
        /// The route added earlier that it collides with.
        with: String,
    },
    /// A method is empty, contains a character outside the HTTP token set, or lower case.
    InvalidMethod {
        /// The pattern of the route declaring it.
        path: String,
        /// The offending method.
        method: String,
    },
    /// A route declares no method at all, so it could never be reached.
    NoMethods {
        /// The pattern of the route.
        path: String,
    },
    /// Two routes share an `id`, so a lookup result would be ambiguous.
    DuplicateId {
        /// The repeated id.
        id: usize,
    },
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::InvalidPath { path, reason } => {
                write!(f, "invalid route path `{path}`: {reason}")
            }
            RouteError::Conflict { route, with } => {
                write!(f, "route `{route}` conflicts with `{with}`")
            }
            RouteError::InvalidMethod { path, method } => {
                write!(f, "route `{path}` has invalid method `{method}`")
            }
            RouteError::NoMethods { path } => write!(f, "route `{path}` declares no methods"),
            RouteError::DuplicateId { id } => write!(f, "route id {id} is used twice"),
        }
    }
}

impl std::error::Error for RouteError {}
