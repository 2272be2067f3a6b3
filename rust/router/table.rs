//! The route table: CovetPy path syntax compiled into one `matchit` tree.
//!
//! Each distinct path *shape* gets one matchit entry holding a method map. Parameters are
//! inserted under positional names (`{p0}`, `{*p1}`), so routes that differ only in
//! parameter names or converters share an entry, and the names and converters stay per route.
//!
//! Semantics worth knowing:
//! * Matching is on the raw request path; parameters are percent-decoded afterwards, so
//!   `%2F` stays inside one segment. Static segments are compared raw (not decoded).
//! * `/a` and `/a/` are different routes; there is no trailing-slash redirect.
//! * Static segments beat parameters, which beat `path` catch-alls (matchit's priority),
//!   segment by segment from the left: that order makes one shape *more specific* than another.
//! * A `{x}` parameter never matches an empty segment, but a `{rest:path}` parameter matches an
//!   empty rest: `/files/` matches `/files/{rest:path}` (with `rest == ""`) and `/` matches
//!   `/{rest:path}`; `/files` (no slash after the prefix) does not. Starlette's `path`
//!   convertor (`.*`) does the same, so FastAPI users expect it, and a catch-all such as
//!   `@app.route("/{rest:path}", methods=["POST"])` must see `POST /` for it to be a catch-all.
//!   The matchit tree cannot express an empty catch-all, so each `prefix/{*p}` shape also
//!   inserts `prefix/` pointing to the same entry (unless a route declares that path itself).
//! * Fall-through: when the most specific shape matching the path has no route for the method,
//!   or its route's converter refuses a value (`/users/abc` against `{id:int}`), the next
//!   shape matching the path is tried, in specificity order, until a route takes the method
//!   and its converters accept. So `@app.get("/")` beside `@app.post("/{rest:path}")` sends
//!   `POST /` to the catch-all, and `GET /users/abc` with `/users/{id:int}` beside
//!   `/{kind}/{name}` to the latter, as Starlette does by trying its routes in turn. When none
//!   takes the request: 405 if some shape matching the path has no route for the method, with
//!   `Allow` the union of the methods of those shapes (their converters not consulted, as
//!   before fall-through existed: `POST /users/abc` with only `GET /users/{id:int}` is a
//!   405); 404 when every matching shape had the method and refused a value.
//! * Shapes matchit cannot hold side by side (a parameter and a catch-all at one position:
//!   `/files/{name}` and `/files/{rest:path}`) are still a `RouteError::Conflict`.
//! * Cost: the shapes that can match some path of a shape, its *fallbacks*, are computed once
//!   at start-up; a lookup whose first match takes the request never looks at them, and one
//!   that falls through tests only those fallbacks, never the whole table.
//! * `HEAD` falls back to the `GET` route of a shape that declares no `HEAD`; that shape then
//!   takes the `HEAD` request before any less specific one.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use super::convert::{Converter, ParamValue};
use super::error::RouteError;
use super::mount::{Mount, Mounts};
use super::pattern::{invalid, match_segs, overlap, parse_path, valid_method, Seg};

/// One route as Python declares it: `id` is the caller's index, `methods` upper-case
/// (`"GET"`, ...), `path` in CovetPy syntax: `/users/{user_id:int}`, `/files/{rest:path}`,
/// `/a/{name}` (no converter = `str`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// The caller's identifier, returned by [`Router::lookup`]; must be unique.
    pub id: usize,
    /// Upper-case HTTP methods this route answers.
    pub methods: Vec<String>,
    /// The path pattern in CovetPy syntax.
    pub path: String,
}

/// Parameters up to this count live inline in [`Params`], without a heap allocation.
const INLINE: usize = 4;

type Param<'a> = (&'a str, ParamValue<'a>);

/// The converted parameters of a match, in path order.
#[derive(Clone)]
pub struct Params<'a> {
    store: Store<'a>,
}

#[derive(Clone)]
enum Store<'a> {
    // Slots at and beyond `len` hold placeholders and are never exposed.
    Inline([Param<'a>; INLINE], usize),
    Heap(Vec<Param<'a>>),
}

const PLACEHOLDER: Param<'static> = ("", ParamValue::Int(0));

impl<'a> Params<'a> {
    fn new() -> Self {
        Params {
            store: Store::Inline([PLACEHOLDER; INLINE], 0),
        }
    }

    fn push(&mut self, name: &'a str, value: ParamValue<'a>) {
        match &mut self.store {
            Store::Inline(items, len) if *len < INLINE => {
                items[*len] = (name, value);
                *len += 1;
            }
            Store::Inline(items, len) => {
                let mut v = Vec::with_capacity(*len * 2);
                v.extend(items.iter_mut().map(|p| std::mem::replace(p, PLACEHOLDER)));
                v.push((name, value));
                self.store = Store::Heap(v);
            }
            Store::Heap(v) => v.push((name, value)),
        }
    }

    fn as_slice(&self) -> &[Param<'a>] {
        match &self.store {
            Store::Inline(items, len) => &items[..*len],
            Store::Heap(v) => v,
        }
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// True when the route has no parameters.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// The `i`-th parameter value in path order (same index as [`Router::param_names`]).
    pub fn get(&self, i: usize) -> Option<&ParamValue<'a>> {
        self.as_slice().get(i).map(|(_, v)| v)
    }

    /// `(name, value)` pairs in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &ParamValue<'a>)> + '_ {
        self.as_slice().iter().map(|(n, v)| (*n, v))
    }
}

impl fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for Params<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

/// The outcome of [`Router::lookup`].
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup<'a> {
    /// A route matched and every parameter converted.
    Found {
        /// The [`RouteSpec::id`] of the matched route.
        route: usize,
        /// Converted parameters in path order.
        params: Params<'a>,
    },
    /// No path matched, or a converter rejected a parameter: answer 404.
    NotFound,
    /// The path matched but not for this method: answer 405 with this `Allow` header value.
    MethodNotAllowed {
        /// Sorted, comma-separated methods (`"GET, HEAD, POST"`); computed at build time when
        /// one shape matches the path, per request when several do.
        allow: Cow<'a, str>,
    },
}

/// Per-route data that the matchit entry does not carry.
struct Compiled {
    id: usize,
    names: Vec<String>,
    converters: Vec<Converter>,
}

/// One path shape: the methods registered on it and the precomputed `Allow` value.
struct Entry {
    /// `(method, index into Router::routes)`; a handful at most, so a linear scan is fastest.
    methods: Vec<(String, usize)>,
    allow: String,
    /// The route that created the entry, named in matchit conflict messages.
    first: usize,
    /// The shape, for matching it as a fallback.
    segs: Vec<Seg>,
    /// Less specific shapes that match some path this one matches, most specific first: the
    /// candidates when this one cannot take a request (see the module docs).
    fallbacks: Box<[usize]>,
}

/// What a matchit leaf points to.
#[derive(Clone, Copy)]
struct Leaf {
    entry: usize,
    /// The leaf is `prefix/` of a `prefix/{*p}` shape: its `path` parameter is empty.
    empty_rest: bool,
}

/// Why a shape did not take a request.
#[derive(Clone, Copy, PartialEq)]
enum Miss {
    /// No route of the shape has the method.
    Method,
    /// The route with the method refused a parameter value.
    Value,
}

/// The compiled route table; immutable after [`Router::new`].
pub struct Router {
    tree: matchit::Router<Leaf>,
    entries: Vec<Entry>,
    routes: Vec<Compiled>,
    by_id: HashMap<usize, usize>,
    /// Prefixes served by one route when the table takes no request (`rust/router/mount.rs`).
    mounts: Mounts,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes.len())
            .finish_non_exhaustive()
    }
}

fn describe(methods: &[String], path: &str) -> String {
    format!("{} {path}", methods.join(","))
}

fn allow_header<'m>(methods: impl Iterator<Item = &'m (String, usize)>) -> String {
    let mut names: Vec<&str> = methods.map(|(m, _)| m.as_str()).collect();
    if names.contains(&"GET") && !names.contains(&"HEAD") {
        names.push("HEAD");
    }
    names.sort_unstable();
    names.dedup();
    names.join(", ")
}

/// Specificity order of shapes (smaller is more specific; see the module docs).
fn rank(segs: &[Seg]) -> Vec<u8> {
    segs.iter().map(Seg::rank).collect()
}

/// Rejects routes whose methods could never match a request.
fn check_methods(spec: &RouteSpec) -> Result<(), RouteError> {
    if spec.methods.is_empty() {
        return Err(RouteError::NoMethods {
            path: spec.path.clone(),
        });
    }
    match spec.methods.iter().find(|m| !valid_method(m)) {
        Some(m) => Err(RouteError::InvalidMethod {
            path: spec.path.clone(),
            method: m.clone(),
        }),
        None => Ok(()),
    }
}

impl Router {
    /// Compiles the route table; fails on the first malformed or conflicting route.
    pub fn new(routes: &[RouteSpec]) -> Result<Router, RouteError> {
        let mut tree = matchit::Router::new();
        let mut entries: Vec<Entry> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        let mut keys: Vec<String> = Vec::new();
        let mut compiled = Vec::with_capacity(routes.len());
        let mut by_id = HashMap::with_capacity(routes.len());

        for (index, spec) in routes.iter().enumerate() {
            if by_id.insert(spec.id, index).is_some() {
                return Err(RouteError::DuplicateId { id: spec.id });
            }
            check_methods(spec)?;
            let parsed = parse_path(&spec.path)?;
            let entry_index = match by_key.get(&parsed.key) {
                Some(&e) => e,
                None => {
                    let e = entries.len();
                    tree.insert(
                        parsed.key.clone(),
                        Leaf {
                            entry: e,
                            empty_rest: false,
                        },
                    )
                    .map_err(|err| match err {
                        matchit::InsertError::Conflict { with } => {
                            // matchit names an inserted key; show the route the user wrote instead.
                            let with = match by_key.get(&with) {
                                Some(&other) => {
                                    let first = &routes[entries[other].first];
                                    describe(&first.methods, &first.path)
                                }
                                None => with,
                            };
                            RouteError::Conflict {
                                route: describe(&spec.methods, &spec.path),
                                with,
                            }
                        }
                        other => invalid(&spec.path, other.to_string()),
                    })?;
                    keys.push(parsed.key.clone());
                    by_key.insert(parsed.key, e);
                    entries.push(Entry {
                        methods: Vec::new(),
                        allow: String::new(),
                        first: index,
                        segs: parsed.segs,
                        fallbacks: Box::default(),
                    });
                    e
                }
            };
            let entry = &mut entries[entry_index];
            for method in &spec.methods {
                match entry.methods.iter().find(|(m, _)| m == method) {
                    // The same method listed twice on one route is harmless.
                    Some(&(_, owner)) if owner == index => {}
                    Some(&(_, owner)) => {
                        return Err(RouteError::Conflict {
                            route: format!("{method} {}", spec.path),
                            with: format!("{method} {}", routes[owner].path),
                        });
                    }
                    None => entry.methods.push((method.clone(), index)),
                }
            }
            compiled.push(Compiled {
                id: spec.id,
                names: parsed.names,
                converters: parsed.converters,
            });
        }
        // The empty rest of each catch-all (see the module docs), after every declared path so
        // that a route declaring `prefix/` itself keeps it and has the catch-all as fallback.
        for (e, entry) in entries.iter().enumerate() {
            let Some(Seg::Rest) = entry.segs.last() else {
                continue;
            };
            let key = &keys[e];
            let prefix = &key[..key.rfind('{').unwrap_or(key.len())];
            if by_key.contains_key(prefix) {
                continue;
            }
            // A prefix of an inserted key cannot clash with it; if matchit disagrees, the
            // route table is refused rather than served with a catch-all that half works.
            let leaf = Leaf {
                entry: e,
                empty_rest: true,
            };
            tree.insert(prefix, leaf).map_err(|err| {
                let first = &routes[entry.first];
                invalid(&first.path, err.to_string())
            })?;
        }
        let ranks: Vec<_> = entries.iter().map(|e| rank(&e.segs)).collect();
        let mut fallbacks = Vec::with_capacity(entries.len());
        for (e, entry) in entries.iter().enumerate() {
            let mut later: Vec<usize> = (0..entries.len())
                .filter(|&f| ranks[f] > ranks[e] && overlap(&entry.segs, &entries[f].segs))
                .collect();
            later.sort_by(|&x, &y| ranks[x].cmp(&ranks[y]));
            fallbacks.push(later.into_boxed_slice());
        }
        for (entry, fallbacks) in entries.iter_mut().zip(fallbacks) {
            entry.allow = allow_header(entry.methods.iter());
            entry.fallbacks = fallbacks;
        }
        Ok(Router {
            tree,
            entries,
            routes: compiled,
            by_id,
            mounts: Mounts::default(),
        })
    }

    /// Compiles the table plus its mounts: a path under a mount's prefix that no route takes
    /// (404 or 405) goes to the mount's route, with no parameters. A mount id must not be a
    /// route's.
    pub fn with_mounts(routes: &[RouteSpec], mounts: &[Mount]) -> Result<Router, RouteError> {
        let mut router = Router::new(routes)?;
        if let Some(m) = mounts.iter().find(|m| router.by_id.contains_key(&m.id)) {
            return Err(RouteError::DuplicateId { id: m.id });
        }
        router.mounts = Mounts::new(mounts)?;
        Ok(router)
    }

    /// Matches `method` and the raw request `path` (no query string).
    ///
    /// This code allocates only for parameters that needed percent-decoding or upper-case UUID
    /// folding, for more than four parameters, and when the first match does not take the
    /// request and fallbacks are tried. (matchit itself may allocate a backtracking stack
    /// where static and parameter siblings coexist, and for more than three parameters.)
    pub fn lookup<'a>(&'a self, method: &str, path: &'a str) -> Lookup<'a> {
        let found = self.lookup_table(method, path);
        if matches!(found, Lookup::Found { .. }) || self.mounts.is_empty() {
            return found;
        }
        match self.mounts.find(path) {
            Some(route) => Lookup::Found {
                route,
                params: Params::new(),
            },
            None => found,
        }
    }

    fn lookup_table<'a>(&'a self, method: &str, path: &'a str) -> Lookup<'a> {
        let Ok(matched) = self.tree.at(path) else {
            return Lookup::NotFound;
        };
        let leaf = *matched.value;
        let Some(entry) = self.entries.get(leaf.entry) else {
            return Lookup::NotFound;
        };
        let empty = leaf.empty_rest.then_some("");
        let raws = matched.params.iter().map(|(_, v)| v).chain(empty);
        let miss = match self.take(entry, method, raws) {
            Ok(found) => return found,
            Err(miss) => miss,
        };
        if entry.fallbacks.is_empty() {
            return match miss {
                Miss::Value => Lookup::NotFound,
                Miss::Method => Lookup::MethodNotAllowed {
                    allow: Cow::Borrowed(&entry.allow),
                },
            };
        }
        self.fall_through(entry, method, path, miss)
    }

    /// The first match did not take the request: tries the shapes after it that match `path`.
    fn fall_through<'a>(
        &'a self,
        first: &'a Entry,
        method: &str,
        path: &'a str,
        miss: Miss,
    ) -> Lookup<'a> {
        let mut raws = Vec::new();
        // The shapes matching the path that have no route for the method: a 405 names them.
        // A shape that had the method but refused a value is left out, or `Allow` would list
        // the very method the client used.
        let mut without_method: Vec<&Entry> = Vec::new();
        if miss == Miss::Method {
            without_method.push(first);
        }
        for &f in first.fallbacks.iter() {
            let Some(entry) = self.entries.get(f) else {
                continue;
            };
            raws.clear();
            if !match_segs(&entry.segs, path, &mut raws) {
                continue;
            }
            match self.take(entry, method, raws.iter().copied()) {
                Ok(found) => return found,
                Err(Miss::Value) => {}
                Err(Miss::Method) => without_method.push(entry),
            }
        }
        match without_method.as_slice() {
            // Every shape had the method and refused a value: nothing is at this path.
            [] => Lookup::NotFound,
            [only] => Lookup::MethodNotAllowed {
                allow: Cow::Borrowed(&only.allow),
            },
            many => Lookup::MethodNotAllowed {
                allow: Cow::Owned(allow_header(many.iter().flat_map(|e| &e.methods))),
            },
        }
    }

    /// The route of `entry` for `method` with its converted parameters (`raws`, in path order).
    fn take<'a>(
        &'a self,
        entry: &Entry,
        method: &str,
        raws: impl Iterator<Item = &'a str>,
    ) -> Result<Lookup<'a>, Miss> {
        let find = |m: &str| entry.methods.iter().find(|(name, _)| name == m);
        let chosen = match find(method) {
            Some(found) => Some(found),
            None if method == "HEAD" => find("GET"),
            None => None,
        };
        let &(_, index) = chosen.ok_or(Miss::Method)?;
        let route = self.routes.get(index).ok_or(Miss::Method)?;
        let mut params = Params::new();
        // Raw values come in path order, the same order as `names`/`converters`.
        let spec = route.names.iter().zip(&route.converters);
        for (raw, (name, conv)) in raws.zip(spec) {
            match conv.convert(raw) {
                Some(value) => params.push(name, value),
                None => return Err(Miss::Value),
            }
        }
        Ok(Lookup::Found {
            route: route.id,
            params,
        })
    }

    fn route(&self, id: usize) -> Option<&Compiled> {
        self.by_id.get(&id).and_then(|&i| self.routes.get(i))
    }

    /// Parameter names of a route in path order (Python uses the index to inject them);
    /// empty for an unknown id.
    pub fn param_names(&self, id: usize) -> &[String] {
        self.route(id).map_or(&[], |r| &r.names)
    }

    /// Converters of a route in path order, parallel to [`Router::param_names`]; empty for an unknown id.
    pub fn param_converters(&self, id: usize) -> &[Converter] {
        self.route(id).map_or(&[], |r| &r.converters)
    }

    /// Number of routes (not path shapes).
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when the table has no routes (every lookup is a 404).
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
