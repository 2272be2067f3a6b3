use std::borrow::Cow;
use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

fn spec(id: usize, methods: &[&str], path: &str) -> RouteSpec {
    RouteSpec {
        id,
        methods: methods.iter().map(|m| m.to_string()).collect(),
        path: path.to_string(),
    }
}

fn router(routes: &[(&[&str], &str)]) -> Router {
    let specs: Vec<RouteSpec> = routes
        .iter()
        .enumerate()
        .map(|(i, (m, p))| spec(i, m, p))
        .collect();
    match Router::new(&specs) {
        Ok(r) => r,
        Err(e) => panic!("router should build: {e}"),
    }
}

fn build_err(routes: &[(&[&str], &str)]) -> RouteError {
    let specs: Vec<RouteSpec> = routes
        .iter()
        .enumerate()
        .map(|(i, (m, p))| spec(i, m, p))
        .collect();
    match Router::new(&specs) {
        Ok(_) => panic!("router should not build"),
        Err(e) => e,
    }
}

/// Route id and `(name, value)` pairs, or the panic-free failure shape.
fn found<'a>(
    r: &'a Router,
    method: &str,
    path: &'a str,
) -> (usize, Vec<(&'a str, ParamValue<'a>)>) {
    match r.lookup(method, path) {
        Lookup::Found { route, params } => {
            (route, params.iter().map(|(n, v)| (n, v.clone())).collect())
        }
        other => panic!("{method} {path}: expected Found, got {other:?}"),
    }
}

fn s(v: &str) -> ParamValue<'_> {
    ParamValue::Str(Cow::Borrowed(v))
}

#[test]
fn static_and_params() {
    let r = router(&[
        (&["GET"], "/"),
        (&["GET"], "/users"),
        (&["GET"], "/users/{user_id:int}"),
        (&["GET"], "/users/me"),
        (&["GET"], "/a/{name}/b/{other:str}"),
    ]);
    assert_eq!(r.len(), 5);
    assert!(!r.is_empty());
    assert_eq!(found(&r, "GET", "/"), (0, vec![]));
    assert_eq!(found(&r, "GET", "/users"), (1, vec![]));
    assert_eq!(
        found(&r, "GET", "/users/42"),
        (2, vec![("user_id", ParamValue::Int(42))])
    );
    assert_eq!(
        found(&r, "GET", "/users/me"),
        (3, vec![]),
        "static beats param"
    );
    assert_eq!(
        found(&r, "GET", "/a/x/b/y"),
        (4, vec![("name", s("x")), ("other", s("y"))])
    );
    assert_eq!(r.param_names(4), ["name", "other"]);
    assert_eq!(r.param_converters(2), [Converter::Int]);
    assert!(r.param_names(99).is_empty());
    assert!(r.param_converters(99).is_empty());
}

#[test]
fn empty_router() {
    let r = router(&[]);
    assert!(r.is_empty());
    assert_eq!(r.lookup("GET", "/"), Lookup::NotFound);
}

#[test]
fn converter_mismatch_is_not_found() {
    let r = router(&[(&["GET"], "/users/{id:int}"), (&["GET"], "/u/{id:uuid}")]);
    assert_eq!(r.lookup("GET", "/users/abc"), Lookup::NotFound);
    assert_eq!(
        r.lookup("GET", "/users/9223372036854775808"),
        Lookup::NotFound
    );
    assert_eq!(r.lookup("GET", "/users/%zz"), Lookup::NotFound);
    assert_eq!(
        r.lookup("GET", "/users/"),
        Lookup::NotFound,
        "empty segment"
    );
    assert_eq!(r.lookup("GET", "/users"), Lookup::NotFound);
    assert_eq!(r.lookup("GET", "/u/not-a-uuid"), Lookup::NotFound);
    assert_eq!(
        found(&r, "GET", "/u/123E4567-E89B-12D3-A456-426614174000").1,
        vec![(
            "id",
            ParamValue::Uuid("123e4567-e89b-12d3-a456-426614174000".into())
        )]
    );
}

#[test]
fn percent_decoding_after_matching() {
    let r = router(&[(&["GET"], "/files/{name}"), (&["GET"], "/raw/{rest:path}")]);
    // %2F decodes to '/' but did not split the segment.
    assert_eq!(found(&r, "GET", "/files/a%2Fb").1, vec![("name", s("a/b"))]);
    assert_eq!(found(&r, "GET", "/files/a%20b").1, vec![("name", s("a b"))]);
    assert_eq!(r.lookup("GET", "/files/a/b"), Lookup::NotFound);
    assert_eq!(r.lookup("GET", "/files/%zz"), Lookup::NotFound);
    assert_eq!(
        found(&r, "GET", "/raw/x/y%2Fz/").1,
        vec![("rest", ParamValue::Path("x/y/z/".into()))]
    );
    assert_eq!(
        found(&r, "GET", "/raw/").1,
        vec![("rest", ParamValue::Path("".into()))],
        "a path parameter takes an empty rest"
    );
    assert_eq!(r.lookup("GET", "/raw"), Lookup::NotFound);
    // Borrowed when nothing needed decoding: no allocation.
    match r.lookup("GET", "/files/plain") {
        Lookup::Found { params, .. } => {
            assert!(matches!(
                params.get(0),
                Some(ParamValue::Str(Cow::Borrowed("plain")))
            ));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn method_not_allowed_with_exact_allow() {
    let r = router(&[
        (&["POST"], "/items"),
        (&["GET"], "/items"),
        (&["DELETE", "PUT"], "/items/{id:int}"),
        (&["GET", "HEAD"], "/h"),
        (&["OPTIONS"], "/o"),
    ]);
    assert_eq!(
        r.lookup("PATCH", "/items"),
        Lookup::MethodNotAllowed {
            allow: "GET, HEAD, POST".into()
        }
    );
    assert_eq!(
        r.lookup("GET", "/items/1"),
        Lookup::MethodNotAllowed {
            allow: "DELETE, PUT".into()
        }
    );
    assert_eq!(
        r.lookup("HEAD", "/items/1"),
        Lookup::MethodNotAllowed {
            allow: "DELETE, PUT".into()
        }
    );
    assert_eq!(
        r.lookup("POST", "/h"),
        Lookup::MethodNotAllowed {
            allow: "GET, HEAD".into()
        }
    );
    assert_eq!(
        r.lookup("GET", "/o"),
        Lookup::MethodNotAllowed {
            allow: "OPTIONS".into()
        }
    );
    // Methods are case-sensitive (RFC 9110).
    assert_eq!(
        r.lookup("get", "/items"),
        Lookup::MethodNotAllowed {
            allow: "GET, HEAD, POST".into()
        }
    );
    // The method check comes before conversion: wrong method on a bad value is still 405.
    assert_eq!(
        r.lookup("GET", "/items/abc"),
        Lookup::MethodNotAllowed {
            allow: "DELETE, PUT".into()
        }
    );
    assert_eq!(r.lookup("GET", "/nope"), Lookup::NotFound);
}

#[test]
fn head_falls_back_to_get() {
    let r = router(&[
        (&["GET"], "/a"),
        (&["GET"], "/b"),
        (&["HEAD"], "/b"),
        (&["POST"], "/c"),
    ]);
    assert_eq!(found(&r, "HEAD", "/a").0, 0);
    assert_eq!(found(&r, "HEAD", "/b").0, 2, "explicit HEAD wins");
    assert_eq!(found(&r, "GET", "/b").0, 1);
    assert_eq!(
        r.lookup("HEAD", "/c"),
        Lookup::MethodNotAllowed {
            allow: "POST".into()
        }
    );
}

#[test]
fn trailing_slash_is_a_different_route() {
    let r = router(&[(&["GET"], "/a"), (&["POST"], "/a/")]);
    assert_eq!(found(&r, "GET", "/a").0, 0);
    assert_eq!(found(&r, "POST", "/a/").0, 1);
    assert_eq!(
        r.lookup("GET", "/a/"),
        Lookup::MethodNotAllowed {
            allow: "POST".into()
        }
    );
    let only = router(&[(&["GET"], "/x")]);
    assert_eq!(only.lookup("GET", "/x/"), Lookup::NotFound);
}

#[test]
fn same_shape_disjoint_methods_keep_own_converters() {
    let r = router(&[
        (&["GET"], "/users/{id:int}"),
        (&["DELETE"], "/users/{name}"),
    ]);
    assert_eq!(
        found(&r, "GET", "/users/7").1,
        vec![("id", ParamValue::Int(7))]
    );
    assert_eq!(found(&r, "DELETE", "/users/7").1, vec![("name", s("7"))]);
    assert_eq!(
        found(&r, "DELETE", "/users/bob").1,
        vec![("name", s("bob"))]
    );
    assert_eq!(r.lookup("GET", "/users/bob"), Lookup::NotFound);
}

#[test]
fn float_and_many_params() {
    let r = router(&[(&["GET"], "/{a}/{b}/{c}/{d}/{e:float}/{f:int}")]);
    let (id, params) = found(&r, "GET", "/1/2/3/4/5.5/-6");
    assert_eq!(id, 0);
    let names: Vec<_> = params.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["a", "b", "c", "d", "e", "f"]);
    assert_eq!(params[4].1, ParamValue::Float(5.5));
    assert_eq!(params[5].1, ParamValue::Int(-6));
    match r.lookup("GET", "/1/2/3/4/5.5/-6") {
        Lookup::Found { params, .. } => {
            assert_eq!(params.len(), 6);
            assert_eq!(params.get(5), Some(&ParamValue::Int(-6)));
            assert_eq!(params.get(6), None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn method_overlap_conflict_names_both() {
    let e = build_err(&[
        (&["GET", "POST"], "/users/{id:int}"),
        (&["PUT", "GET"], "/users/{name}"),
    ]);
    assert_eq!(
        e.to_string(),
        "route `GET /users/{name}` conflicts with `GET /users/{id:int}`"
    );
    let e = build_err(&[(&["GET"], "/a"), (&["GET"], "/a")]);
    assert_eq!(
        e,
        RouteError::Conflict {
            route: "GET /a".into(),
            with: "GET /a".into()
        }
    );
    // Listing a method twice on one route is not a conflict.
    router(&[(&["GET", "GET"], "/a")]);
}

#[test]
fn matchit_conflict_names_both_original_routes() {
    let e = build_err(&[
        (&["GET"], "/files/{name}"),
        (&["POST"], "/files/{rest:path}"),
    ]);
    assert_eq!(
        e.to_string(),
        "route `POST /files/{rest:path}` conflicts with `GET /files/{name}`"
    );
    let e = build_err(&[
        (&["GET"], "/x"),
        (&["GET", "PUT"], "/x/{a:int}/c/{b}/z"),
        (&["GET"], "/x/{q}/c/{rest:path}"),
    ]);
    assert_eq!(
        e.to_string(),
        "route `GET /x/{q}/c/{rest:path}` conflicts with `GET,PUT /x/{a:int}/c/{b}/z`"
    );
}

#[test]
fn invalid_paths() {
    let cases: &[(&str, &str)] = &[
        ("", "must start with `/`"),
        ("users", "must start with `/`"),
        ("/a{x}", "whole segment"),
        ("/{x}.json", "whole segment"),
        ("/a/}", "whole segment"),
        ("/{x:bool}", "unknown converter `bool`"),
        ("/{x:}", "unknown converter ``"),
        ("/{1x}", "not an identifier"),
        ("/{}", "not an identifier"),
        ("/{a-b}", "not an identifier"),
        ("/{x}/{x:int}", "appears twice"),
        ("/{rest:path}/x", "must be the last segment"),
        ("/{rest:path}/", "must be the last segment"),
        ("/a b", "cannot appear"),
        ("/café", "cannot appear"),
        ("/a?b", "cannot appear"),
    ];
    for (path, reason) in cases {
        match build_err(&[(&["GET"], path)]) {
            RouteError::InvalidPath { path: p, reason: r } => {
                assert_eq!(&p, path);
                assert!(r.contains(reason), "{path:?}: {r:?} lacks {reason:?}");
            }
            other => panic!("{path:?}: {other:?}"),
        }
    }
    let msg = build_err(&[(&["GET"], "/{x:bool}")]).to_string();
    assert!(
        msg.starts_with("invalid route path `/{x:bool}`: unknown converter `bool`"),
        "{msg}"
    );
}

#[test]
fn invalid_methods_and_ids() {
    assert_eq!(
        build_err(&[(&[], "/a")]),
        RouteError::NoMethods { path: "/a".into() }
    );
    for bad in ["", "get", "GE T", "GET\r\n"] {
        assert_eq!(
            build_err(&[(&[bad], "/a")]),
            RouteError::InvalidMethod {
                path: "/a".into(),
                method: bad.into()
            }
        );
    }
    let specs = [spec(3, &["GET"], "/a"), spec(3, &["GET"], "/b")];
    let e = Router::new(&specs).err();
    assert_eq!(e, Some(RouteError::DuplicateId { id: 3 }));
    assert_eq!(
        RouteError::DuplicateId { id: 3 }.to_string(),
        "route id 3 is used twice"
    );
    // Ids are the caller's, not positions.
    let r = match Router::new(&[spec(10, &["GET"], "/{p}"), spec(7, &["GET"], "/")]) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(found(&r, "GET", "/z").0, 10);
    assert_eq!(r.param_names(10), ["p"]);
    fn is_error<E: std::error::Error>(_: &E) {}
    is_error(&RouteError::NoMethods {
        path: String::new(),
    });
}

/// Issue 13 (point 5): `POST /` answered 405 because `GET /` is more specific than the
/// catch-all that takes POST.
#[test]
fn a_method_the_most_specific_route_lacks_falls_through_to_a_catch_all() {
    let r = router(&[(&["POST", "PUT"], "/{rest:path}"), (&["GET"], "/")]);
    assert_eq!(
        found(&r, "POST", "/"),
        (0, vec![("rest", ParamValue::Path("".into()))])
    );
    assert_eq!(found(&r, "GET", "/").0, 1);
    assert_eq!(found(&r, "HEAD", "/").0, 1);
    assert_eq!(
        found(&r, "POST", "/a/b").1,
        vec![("rest", ParamValue::Path("a/b".into()))]
    );
    assert_eq!(
        r.lookup("DELETE", "/"),
        Lookup::MethodNotAllowed {
            allow: "GET, HEAD, POST, PUT".into()
        }
    );
    assert_eq!(
        r.lookup("DELETE", "/a"),
        Lookup::MethodNotAllowed {
            allow: "POST, PUT".into()
        }
    );
}

#[test]
fn a_path_parameter_takes_an_empty_rest_unless_a_route_declares_it() {
    let r = router(&[
        (&["GET"], "/files/{p:path}"),
        (&["GET"], "/{x}/{rest:path}"),
        (&["GET"], "/static/"),
        (&["POST"], "/static/{p:path}"),
    ]);
    assert_eq!(
        found(&r, "GET", "/files/").1,
        vec![("p", ParamValue::Path("".into()))]
    );
    assert_eq!(
        found(&r, "GET", "/a/"),
        (
            1,
            vec![("x", s("a")), ("rest", ParamValue::Path("".into()))]
        )
    );
    // Not without the slash after the prefix: `/files` is another path.
    assert_eq!(r.lookup("GET", "/files"), Lookup::NotFound);
    // A declared `prefix/` keeps it; the catch-all is its fallback for other methods.
    assert_eq!(found(&r, "GET", "/static/").0, 2);
    assert_eq!(
        found(&r, "POST", "/static/"),
        (3, vec![("p", ParamValue::Path("".into()))])
    );
    let root = router(&[(&["GET"], "/{rest:path}")]);
    assert_eq!(
        found(&root, "GET", "/").1,
        vec![("rest", ParamValue::Path("".into()))]
    );
}

#[test]
fn a_converter_that_refuses_falls_through_too() {
    let r = router(&[(&["GET"], "/users/{id:int}"), (&["GET"], "/{kind}/{name}")]);
    assert_eq!(
        found(&r, "GET", "/users/42"),
        (0, vec![("id", ParamValue::Int(42))])
    );
    assert_eq!(
        found(&r, "GET", "/users/bob"),
        (1, vec![("kind", s("users")), ("name", s("bob"))])
    );
    assert_eq!(
        r.lookup("DELETE", "/users/bob"),
        Lookup::MethodNotAllowed {
            allow: "GET, HEAD".into()
        }
    );
    // A route had the method but refused the value; another shape matches the path without
    // the method: 405 naming that shape's methods only (as Starlette, where a refused
    // converter is no match and a path match without the method is a 405).
    let r = router(&[(&["GET"], "/users/{id:int}"), (&["POST"], "/{kind}/{name}")]);
    assert_eq!(
        r.lookup("GET", "/users/bob"),
        Lookup::MethodNotAllowed {
            allow: "POST".into()
        }
    );
    assert_eq!(found(&r, "POST", "/users/bob").0, 1);
    assert_eq!(
        r.lookup("PUT", "/users/1"),
        Lookup::MethodNotAllowed {
            allow: "GET, HEAD, POST".into()
        }
    );
    // Every matching shape had the method and refused the value: nothing is there, 404.
    let r = router(&[(&["GET"], "/users/{id:int}"), (&["GET"], "/{kind}/{n:int}")]);
    assert_eq!(r.lookup("GET", "/users/bob"), Lookup::NotFound);
    // The fuzzer's case: a static route without the method beside a parameter route that
    // has it but refuses the value is a 405 for the static route, never a 404.
    let r = router(&[(&["GCET"], "/users/me"), (&["GET"], "/users/{id:int}")]);
    assert_eq!(
        r.lookup("GET", "/users/me"),
        Lookup::MethodNotAllowed {
            allow: "GCET".into()
        }
    );
}

#[test]
fn fallbacks_are_tried_most_specific_first() {
    let r = router(&[
        (&["GET"], "/a/b"),
        (&["POST"], "/{y}/b"),
        (&["POST", "PATCH"], "/a/{x}"),
        (&["POST", "PUT"], "/{y}/{z}"),
    ]);
    assert_eq!(found(&r, "POST", "/a/b").0, 2, "static first segment wins");
    assert_eq!(found(&r, "PUT", "/a/b").0, 3);
    assert_eq!(found(&r, "POST", "/c/b").0, 1);
    assert_eq!(
        r.lookup("DELETE", "/a/b"),
        Lookup::MethodNotAllowed {
            allow: "GET, HEAD, PATCH, POST, PUT".into()
        }
    );
    // HEAD is taken by the most specific shape that has GET.
    let r = router(&[(&["GET"], "/x"), (&["HEAD"], "/{rest:path}")]);
    assert_eq!(found(&r, "HEAD", "/x").0, 0);
    assert_eq!(found(&r, "HEAD", "/y").0, 1);
}

#[test]
fn fallbacks_are_computed_once_and_only_for_overlapping_shapes() {
    let r = router(&[
        (&["GET"], "/"),
        (&["GET"], "/users"),
        (&["GET"], "/users/{id:int}"),
        (&["GET"], "/items/{id}"),
        (&["GET"], "/items/{id}/parts"),
        (&["GET"], "/{kind}/{name}"),
    ]);
    let chains: Vec<usize> = r.entries.iter().map(|e| e.fallbacks.len()).collect();
    // Only the two shapes under `/{kind}/{name}` have a fallback (it); disjoint shapes and
    // the least specific one have none, so their lookups never look further.
    assert_eq!(chains, [0, 0, 1, 1, 0, 0]);
    assert_eq!(&*r.entries[2].fallbacks, &[5]);
}

/// A naive reference matcher over the same routes (str params and `path` catch-alls only):
/// the routes that match, most specific first: at each segment prefer static, then param,
/// then catch-all, i.e. in lexicographic order of their kind sequences.
fn linear_candidates(routes: &[Vec<Seg>], path: &str) -> Vec<usize> {
    let Some(rest) = path.strip_prefix('/') else {
        return Vec::new();
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let matches = |route: &[Seg]| -> bool {
        for (i, seg) in route.iter().enumerate() {
            match seg {
                Seg::Static(s) => {
                    if parts.get(i) != Some(&s.as_str()) {
                        return false;
                    }
                }
                Seg::Param => match parts.get(i) {
                    Some(p) if !p.is_empty() => {}
                    _ => return false,
                },
                // A `path` parameter takes the rest after the `/`, even when it is empty.
                Seg::Rest => return parts.len() > i,
            }
        }
        parts.len() == route.len()
    };
    let rank = |route: &[Seg]| -> Vec<u8> {
        route
            .iter()
            .map(|s| match s {
                Seg::Static(_) => 0,
                Seg::Param => 1,
                Seg::Rest => 2,
            })
            .collect()
    };
    let mut candidates: Vec<usize> = (0..routes.len()).filter(|&i| matches(&routes[i])).collect();
    candidates.sort_by_key(|&i| rank(&routes[i]));
    candidates
}

fn linear_match(routes: &[Vec<Seg>], path: &str) -> Option<usize> {
    linear_candidates(routes, path).first().copied()
}

/// The reference for fall-through: the most specific matching route that has the method,
/// else 405 with the union of the methods of every matching route, else 404.
fn linear_lookup(routes: &[(Vec<Seg>, Vec<&str>)], method: &str, path: &str) -> Lookup<'static> {
    let shapes: Vec<Vec<Seg>> = routes.iter().map(|(r, _)| r.clone()).collect();
    let candidates = linear_candidates(&shapes, path);
    if let Some(&i) = candidates.iter().find(|&&i| routes[i].1.contains(&method)) {
        return Lookup::Found {
            route: i,
            params: Params::new(),
        };
    }
    if candidates.is_empty() {
        return Lookup::NotFound;
    }
    let mut allow: Vec<&str> = candidates
        .iter()
        .flat_map(|&i| routes[i].1.clone())
        .collect();
    allow.sort_unstable();
    allow.dedup();
    Lookup::MethodNotAllowed {
        allow: allow.join(", ").into(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Static(String),
    Param,
    Rest,
}

fn render(route: &[Seg]) -> String {
    let mut out = String::new();
    for (i, seg) in route.iter().enumerate() {
        out.push('/');
        match seg {
            Seg::Static(s) => out.push_str(s),
            Seg::Param => out.push_str(&format!("{{v{i}}}")),
            Seg::Rest => out.push_str(&format!("{{v{i}:path}}")),
        }
    }
    out
}

fn route_strategy() -> impl Strategy<Value = Vec<Seg>> {
    let seg = prop_oneof![
        3 => prop_oneof![Just("a"), Just("b"), Just("")].prop_map(|s| Seg::Static(s.to_string())),
        2 => Just(Seg::Param),
    ];
    (prop::collection::vec(seg, 1..4), any::<bool>()).prop_map(|(mut segs, rest)| {
        if rest {
            segs.push(Seg::Rest);
        }
        segs
    })
}

/// A non-empty set of methods (no GET, so that HEAD plays no part).
fn methods_strategy() -> impl Strategy<Value = Vec<&'static str>> {
    prop::sample::subsequence(vec!["DELETE", "POST", "PUT"], 1..=3)
}

proptest! {
    #[test]
    fn falls_through_like_a_linear_reference(
        routes in prop::collection::btree_map(route_strategy(), methods_strategy(), 1..8),
        requests in prop::collection::vec(
            (
                prop_oneof![Just("DELETE"), Just("POST"), Just("PUT"), Just("PATCH")],
                prop::collection::vec(prop_oneof![Just("a"), Just("b"), Just("c"), Just("")], 1..6),
            ),
            1..20,
        ),
    ) {
        let routes: Vec<(Vec<Seg>, Vec<&str>)> = routes.into_iter().collect();
        let specs: Vec<RouteSpec> = routes.iter().enumerate().map(|(i, (r, m))| spec(i, m, &render(r))).collect();
        // Shapes matchit refuses (param vs catch-all at one position) are out of scope here.
        let Ok(r) = Router::new(&specs) else { return Ok(()); };
        for (method, parts) in requests {
            let path = format!("/{}", parts.join("/"));
            let got = match r.lookup(method, &path) {
                Lookup::Found { route, .. } => Lookup::Found { route, params: Params::new() },
                other => other,
            };
            prop_assert_eq!(got, linear_lookup(&routes, method, &path), "{} {}", method, path);
        }
    }

    #[test]
    fn lookup_never_panics(path in "\\PC*", method in "[A-Z]{0,7}") {
        let r = router(&[
            (&["GET"], "/"),
            (&["GET", "POST"], "/users/{id:int}"),
            (&["GET"], "/users/{id:int}/posts/{slug}"),
            (&["GET"], "/u/{id:uuid}/{f:float}"),
            (&["GET"], "/static/{rest:path}"),
            (&["PUT"], "/{a}/{b}/{c}/{d}/{e}"),
        ]);
        let _ = r.lookup(&method, &path);
    }

    #[test]
    fn every_static_path_finds_its_own_id(
        paths in prop::collection::btree_set("(/[a-z0-9._~%-]{0,6}){1,4}", 1..30)
    ) {
        let specs: Vec<RouteSpec> = paths.iter().enumerate().map(|(i, p)| spec(i * 3 + 1, &["GET"], p)).collect();
        let r = Router::new(&specs).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for s in &specs {
            prop_assert_eq!(r.lookup("GET", &s.path), Lookup::Found { route: s.id, params: Params::new() });
        }
    }

    #[test]
    fn int_param_round_trips(n in any::<i64>()) {
        let r = router(&[(&["GET"], "/n/{n:int}")]);
        let path = format!("/n/{n}");
        prop_assert_eq!(found(&r, "GET", &path).1, vec![("n", ParamValue::Int(n))]);
    }

    #[test]
    fn matches_linear_reference(
        routes in prop::collection::btree_set(route_strategy(), 1..8),
        requests in prop::collection::vec(prop::collection::vec(prop_oneof![Just("a"), Just("b"), Just("c"), Just("")], 1..6), 1..20),
    ) {
        let routes: Vec<Vec<Seg>> = routes.into_iter().collect();
        let specs: Vec<RouteSpec> = routes.iter().enumerate().map(|(i, r)| spec(i, &["GET"], &render(r))).collect();
        // Shapes matchit refuses (param vs catch-all at one position) are out of scope here.
        let Ok(r) = Router::new(&specs) else { return Ok(()); };
        let distinct: BTreeSet<_> = routes.iter().collect();
        prop_assert_eq!(distinct.len(), routes.len());
        for parts in requests {
            let path = format!("/{}", parts.join("/"));
            let expected = linear_match(&routes, &path);
            let got = match r.lookup("GET", &path) {
                Lookup::Found { route, .. } => Some(route),
                Lookup::NotFound => None,
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            };
            prop_assert_eq!(got, expected, "path {} routes {:?}", path, specs.iter().map(|s| &s.path).collect::<Vec<_>>());
        }
    }
}

mod mounts {
    use super::*;
    use crate::router::Mount;

    fn router() -> Router {
        let routes = vec![
            RouteSpec {
                id: 0,
                methods: vec!["GET".into()],
                path: "/items/{id:int}".into(),
            },
            RouteSpec {
                id: 1,
                methods: vec!["GET".into()],
                path: "/api/health".into(),
            },
        ];
        let mounts = vec![
            Mount {
                id: 2,
                prefix: "".into(),
            },
            Mount {
                id: 3,
                prefix: "/api".into(),
            },
        ];
        Router::with_mounts(&routes, &mounts).unwrap()
    }

    fn id(l: Lookup<'_>) -> Option<usize> {
        match l {
            Lookup::Found { route, .. } => Some(route),
            _ => None,
        }
    }

    #[test]
    fn native_routes_win_and_misses_go_to_the_longest_mount() {
        let r = router();
        assert_eq!(id(r.lookup("GET", "/items/5")), Some(0));
        assert_eq!(id(r.lookup("GET", "/api/health")), Some(1));
        // A 405 of the table (POST) and a refused converter (abc) go to the mount.
        assert_eq!(id(r.lookup("POST", "/items/5")), Some(2));
        assert_eq!(id(r.lookup("GET", "/items/abc")), Some(2));
        assert_eq!(id(r.lookup("POST", "/api/health")), Some(3));
        assert_eq!(id(r.lookup("GET", "/api/other")), Some(3));
        assert_eq!(id(r.lookup("DELETE", "/")), Some(2));
    }

    #[test]
    fn a_mount_id_that_is_a_route_id_is_refused() {
        let routes = vec![RouteSpec {
            id: 0,
            methods: vec!["GET".into()],
            path: "/".into(),
        }];
        let mounts = vec![Mount {
            id: 0,
            prefix: "/x".into(),
        }];
        assert!(matches!(
            Router::with_mounts(&routes, &mounts),
            Err(RouteError::DuplicateId { id: 0 })
        ));
    }
}
