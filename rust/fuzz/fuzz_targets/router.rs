//! `Router::new` on fuzzer-chosen route patterns, then `lookup` of fuzzer-chosen paths.
//!
//! Input, one item a line (lossy UTF-8), routes first, an empty line, then requests:
//!
//! ```text
//! GET,POST /users/{id:int}          METHODS PATH; a line without a space is a GET route
//! GET /files/{rest:path}
//!
//! GET /users/42                     METHOD PATH
//! ```
//!
//! Building may fail (that is the point of most patterns) but never panics. A lookup that
//! finds a route must be explained by a plain re-implementation of the pattern syntax: the
//! route's shape matches the path segment by segment, each parameter is the converter applied
//! to its raw segment (the `path` one to the rest of the path, possibly empty), and the method
//! is declared (or is HEAD falling back to GET); and no more specific route would have taken
//! the request (fall-through, see rust/router/table.rs). A 404 or 405 means no route takes the
//! request; a 405 names exactly the union of the methods of the shapes that match the path,
//! and comes only when no route matching the path has the method; a path equal to a static
//! route is never a 404.

#![no_main]

use _core::router::{Converter, Lookup, RouteSpec, Router};
use libfuzzer_sys::fuzz_target;

const MAX_ROUTES: usize = 32;
const MAX_LOOKUPS: usize = 32;
/// Route ids are not indexes, so that a mix-up of the two shows.
const ID_BASE: usize = 1000;

/// A pattern segment as the reference reads it.
#[derive(Debug, PartialEq)]
enum Seg<'a> {
    Static(&'a str),
    Param(Converter),
    Rest,
}

fn segments(pattern: &str) -> Vec<Seg<'_>> {
    pattern
        .strip_prefix('/')
        .unwrap_or(pattern)
        .split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(inner) => {
                    let conv = inner
                        .split_once(':')
                        .map_or(Some(Converter::Str), |(_, c)| Converter::parse(c));
                    match conv {
                        Some(Converter::Path) => Seg::Rest,
                        Some(c) => Seg::Param(c),
                        None => Seg::Static(s),
                    }
                }
                None => Seg::Static(s),
            },
        )
        .collect()
}

/// The parameter names of a pattern, in order.
fn names(pattern: &str) -> Vec<String> {
    pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|inner| inner.split_once(':').map_or(inner, |(n, _)| n).to_owned())
        .collect()
}

/// Raw parameter values if `path` has the shape of `pattern` (converters not applied).
/// A parameter never matches an empty segment; a `path` one matches an empty rest.
fn reference<'p>(pattern: &str, path: &'p str) -> Option<Vec<&'p str>> {
    let segs = segments(pattern);
    let rest = path.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    let mut raws = Vec::new();
    let mut offset = 1;
    for (i, seg) in segs.iter().enumerate() {
        match seg {
            Seg::Rest => {
                // Empty or not: `/files/` matches `/files/{rest:path}`.
                let raw = path.get(offset..)?;
                raws.push(raw);
                return (i + 1 == segs.len()).then_some(raws);
            }
            Seg::Static(s) => {
                if parts.get(i)? != s {
                    return None;
                }
            }
            Seg::Param(_) => {
                let raw = *parts.get(i)?;
                if raw.is_empty() {
                    return None;
                }
                raws.push(raw);
            }
        }
        offset += parts[i].len() + 1;
    }
    (parts.len() == segs.len()).then_some(raws)
}

/// Routes that can never be told apart by a path share a shape.
fn shape(pattern: &str) -> Vec<Option<&str>> {
    segments(pattern)
        .into_iter()
        .map(|s| match s {
            Seg::Static(s) => Some(s),
            Seg::Param(_) => None,
            Seg::Rest => Some("{*}"),
        })
        .collect()
}

fn parse_route(line: &str, id: usize) -> RouteSpec {
    let (methods, path) = line.split_once(' ').unwrap_or(("GET", line));
    RouteSpec {
        id,
        methods: methods.split(',').map(str::to_owned).collect(),
        path: path.to_owned(),
    }
}

/// Specificity of a shape: static before parameter before catch-all, from the left.
fn rank(pattern: &str) -> Vec<u8> {
    segments(pattern)
        .iter()
        .map(|s| match s {
            Seg::Static(_) => 0,
            Seg::Param(_) => 1,
            Seg::Rest => 2,
        })
        .collect()
}

/// Whether `spec` takes `method path`: its shape and converters accept the path and it has the
/// method (or GET for a HEAD, when no route of its shape declares HEAD).
fn takes(spec: &RouteSpec, specs: &[RouteSpec], method: &str, path: &str) -> bool {
    let Some(raws) = reference(&spec.path, path) else {
        return false;
    };
    let has = |m: &str| spec.methods.iter().any(|x| x == m);
    let shape_has_head = specs
        .iter()
        .any(|r| shape(&r.path) == shape(&spec.path) && r.methods.iter().any(|m| m == "HEAD"));
    let method_ok = has(method) || (method == "HEAD" && has("GET") && !shape_has_head);
    let convs: Vec<Converter> = segments(&spec.path)
        .into_iter()
        .filter_map(|s| match s {
            Seg::Param(c) => Some(c),
            Seg::Rest => Some(Converter::Path),
            Seg::Static(_) => None,
        })
        .collect();
    method_ok
        && raws
            .iter()
            .zip(&convs)
            .all(|(raw, c)| c.convert(raw).is_some())
}

fn check_lookup(router: &Router, specs: &[RouteSpec], method: &str, path: &str) {
    let taking: Vec<&RouteSpec> = specs
        .iter()
        .filter(|r| takes(r, specs, method, path))
        .collect();
    let best = taking.iter().map(|r| rank(&r.path)).min();
    let methods_of_shape = |pattern: &str| -> Vec<&str> {
        let s = shape(pattern);
        let mut m: Vec<&str> = specs
            .iter()
            .filter(|r| shape(&r.path) == s)
            .flat_map(|r| r.methods.iter().map(String::as_str))
            .collect();
        m.sort_unstable();
        m.dedup();
        m
    };
    // Whether the shape of `pattern` has a route for `method` (or GET for a HEAD, when the
    // shape declares no HEAD).
    let shape_has = |pattern: &str, method: &str| -> bool {
        let m = methods_of_shape(pattern);
        m.contains(&method) || (method == "HEAD" && m.contains(&"GET") && !m.contains(&"HEAD"))
    };
    match router.lookup(method, path) {
        Lookup::Found { route, params } => {
            let spec = route
                .checked_sub(ID_BASE)
                .and_then(|i| specs.get(i))
                .unwrap_or_else(|| panic!("unknown route id {route}"));
            let raws = reference(&spec.path, path)
                .unwrap_or_else(|| panic!("{path:?} found {:?}, which it does not fit", spec.path));
            let convs = router.param_converters(route);
            assert_eq!(params.len(), raws.len());
            assert_eq!(convs.len(), raws.len());
            let expected_names = names(&spec.path);
            for (i, ((name, value), raw)) in params.iter().zip(&raws).enumerate() {
                assert_eq!(name, expected_names[i]);
                assert_eq!(Some(value), convs[i].convert(raw).as_ref(), "param {name}");
            }
            let declared = spec.methods.iter().any(|m| m == method);
            let head_via_get = method == "HEAD"
                && spec.methods.iter().any(|m| m == "GET")
                && !methods_of_shape(&spec.path).contains(&"HEAD");
            assert!(
                declared || head_via_get,
                "{method} routed to {:?}",
                spec.methods
            );
            assert_eq!(
                Some(rank(&spec.path)),
                best,
                "{method} {path:?} went to {:?}, not to the most specific route taking it",
                spec.path
            );
        }
        Lookup::MethodNotAllowed { allow } => {
            let listed: Vec<&str> = allow.split(", ").collect();
            assert!(
                listed.windows(2).all(|w| w[0] < w[1]),
                "Allow sorted: {allow}"
            );
            assert!(!listed.contains(&method));
            if method == "HEAD" {
                assert!(!listed.contains(&"GET"));
            }
            assert!(
                taking.is_empty(),
                "405 for {method} {path:?}, which {taking:?} take"
            );
            // The shapes matching the path that have no route for the method (a shape that
            // had it and refused a value is not named, or Allow would list `method`).
            let mut union: Vec<&str> = specs
                .iter()
                .filter(|r| reference(&r.path, path).is_some() && !shape_has(&r.path, method))
                .flat_map(|r| r.methods.iter().map(String::as_str))
                .collect();
            if union.contains(&"GET") && !union.contains(&"HEAD") {
                union.push("HEAD");
            }
            union.sort_unstable();
            union.dedup();
            assert_eq!(
                listed, union,
                "405 for {path:?}: Allow is the union of matching shapes"
            );
        }
        Lookup::NotFound => {
            assert!(
                taking.is_empty(),
                "404 for {method} {path:?}, which {taking:?} take"
            );
            let exact = specs.iter().find(|r| {
                segments(&r.path)
                    .iter()
                    .all(|s| matches!(s, Seg::Static(_)))
                    && r.path == path
            });
            assert!(exact.is_none(), "{path:?} is a route but got 404");
            assert!(
                specs
                    .iter()
                    .filter(|r| reference(&r.path, path).is_some())
                    .all(|r| shape_has(&r.path, method)),
                "404 for {method} {path:?}, a path where some shape lacks the method (405)"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let specs: Vec<RouteSpec> = lines
        .by_ref()
        .take_while(|l| !l.is_empty())
        .take(MAX_ROUTES)
        .enumerate()
        .map(|(i, l)| parse_route(l, ID_BASE + i))
        .collect();
    let Ok(router) = Router::new(&specs) else {
        return;
    };
    assert_eq!(router.len(), specs.len());
    for spec in &specs {
        assert_eq!(router.param_names(spec.id), &names(&spec.path)[..]);
    }
    for line in lines.take(MAX_LOOKUPS) {
        let (method, path) = line.split_once(' ').unwrap_or(("GET", line));
        check_lookup(&router, &specs, method, path);
    }
});
