//! The route stage: the router's lookup for a method and path, as a routed request (route id
//! and owned params) or the answer that replaces it.

use std::sync::Arc;

use crate::auth::{Identity, Pending};
use crate::pipeline::Ctx;
use crate::protocol::problem::problem;
use crate::protocol::response::Response;
use crate::router::{Lookup, ParamValue};

/// A path parameter, converted and owned (it outlives the router's borrow of the path).
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// `str` converter.
    Str(Box<str>),
    /// `int` converter.
    Int(i64),
    /// `float` converter.
    Float(f64),
    /// `uuid` converter, canonical lower-case text.
    Uuid(Box<str>),
    /// `path` converter.
    Path(Box<str>),
}

impl From<&ParamValue<'_>> for Param {
    fn from(v: &ParamValue<'_>) -> Self {
        match v {
            ParamValue::Str(s) => Param::Str(s.as_ref().into()),
            ParamValue::Int(i) => Param::Int(*i),
            ParamValue::Float(f) => Param::Float(*f),
            ParamValue::Uuid(s) => Param::Uuid(s.as_ref().into()),
            ParamValue::Path(s) => Param::Path(s.as_ref().into()),
        }
    }
}

/// A request the router matched, waiting to be admitted and dispatched.
#[derive(Debug)]
pub struct Routed {
    /// The route id Python gave the route.
    pub route: usize,
    /// Path parameters in path order.
    pub params: Vec<Param>,
    /// What the authentication layers verified (None: anonymous, or no layers).
    pub identity: Option<Arc<Identity>>,
    /// What Python must still decide about authentication.
    pub pending: Option<Pending>,
}

/// What the route stage found.
pub(crate) enum Found {
    /// A route served by a handler.
    Routed(Routed),
    /// A route whose response was fixed at start-up (its id, for the authentication check).
    Fixed(usize, Response),
}

/// Looks `method` and `path` up: a response fixed at start-up never leaves the IO thread (no
/// job, no Python); no route is 404, no method 405 with `Allow`.
#[inline]
pub(crate) fn route(ctx: &Ctx, method: &str, path: &str) -> Result<Found, Response> {
    match ctx.router.lookup(method, path) {
        Lookup::Found { route, params } => Ok(match ctx.dispatch.fixed_response(route) {
            Some(fixed) => Found::Fixed(route, fixed),
            None => Found::Routed(Routed {
                route,
                params: params
                    .iter()
                    .map(|(_, v)| Param::from(v))
                    .collect::<Vec<_>>(),
                identity: None,
                pending: None,
            }),
        }),
        Lookup::NotFound => Err(problem(404, "no route matches this path")),
        Lookup::MethodNotAllowed { allow } => {
            let mut r = problem(405, "method not allowed for this path");
            r.header_block.extend_from_slice(b"allow: ");
            r.header_block.extend_from_slice(allow.as_bytes());
            r.header_block.extend_from_slice(b"\r\n");
            Err(r)
        }
    }
}
