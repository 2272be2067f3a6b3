//! Mounts: path prefixes handed whole to one route (a hosted ASGI or WSGI app) when no route
//! of the table takes the request. Native routes always win: a mount is consulted only after
//! the table answered 404 or 405, so moving an endpoint from a mounted app to a native route
//! is one declaration, and a request the table matches never pays for the mounts.

use super::error::RouteError;

/// One mount as Python declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The route id the lookup returns for a path under the prefix.
    pub id: usize,
    /// `""` (or `"/"`) mounts at the root; otherwise `/a/b`, no trailing slash.
    pub prefix: String,
}

/// The mounts of a table, longest prefix first so that `/api/v2` wins over `/api`.
#[derive(Debug, Default)]
pub(crate) struct Mounts(Vec<Mount>);

impl Mounts {
    pub(crate) fn new(mounts: &[Mount]) -> Result<Mounts, RouteError> {
        let mut out: Vec<Mount> = Vec::with_capacity(mounts.len());
        for m in mounts {
            let prefix = normalize(&m.prefix)?;
            if let Some(other) = out.iter().find(|o| o.prefix == prefix) {
                return Err(RouteError::Conflict {
                    route: format!("mount {:?}", m.prefix),
                    with: format!("mount {:?} (route {})", other.prefix, other.id),
                });
            }
            out.push(Mount { id: m.id, prefix });
        }
        out.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        Ok(Mounts(out))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The mount whose prefix is `path` or a whole-segment prefix of it: `/api` takes `/api`
    /// and `/api/x`, never `/apix`.
    pub(crate) fn find(&self, path: &str) -> Option<usize> {
        self.0.iter().find_map(|m| {
            let rest = path.strip_prefix(m.prefix.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then_some(m.id)
        })
    }
}

fn normalize(prefix: &str) -> Result<String, RouteError> {
    let invalid = |reason: &str| RouteError::InvalidPath {
        path: prefix.to_owned(),
        reason: reason.to_owned(),
    };
    if prefix.is_empty() || prefix == "/" {
        return Ok(String::new());
    }
    if !prefix.starts_with('/') {
        return Err(invalid("a mount prefix starts with `/`"));
    }
    if prefix.ends_with('/') {
        return Err(invalid("a mount prefix has no trailing `/`"));
    }
    if prefix.contains(['{', '}', '?', '#']) || prefix.contains("//") {
        return Err(invalid(
            "a mount prefix is a plain path: no parameters, query, fragment or empty segment",
        ));
    }
    Ok(prefix.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounts(list: &[(usize, &str)]) -> Mounts {
        let v: Vec<Mount> = list
            .iter()
            .map(|&(id, p)| Mount {
                id,
                prefix: p.into(),
            })
            .collect();
        Mounts::new(&v).unwrap()
    }

    #[test]
    fn whole_segments_and_longest_prefix() {
        let m = mounts(&[(1, "/api"), (2, "/api/v2"), (3, "/")]);
        assert_eq!(m.find("/api"), Some(1));
        assert_eq!(m.find("/api/x"), Some(1));
        assert_eq!(m.find("/api/v2/x"), Some(2));
        assert_eq!(m.find("/api/v2"), Some(2));
        assert_eq!(m.find("/apix"), Some(3));
        assert_eq!(m.find("/"), Some(3));
    }

    #[test]
    fn without_a_root_mount_other_paths_miss() {
        let m = mounts(&[(1, "/legacy")]);
        assert_eq!(m.find("/legacyx"), None);
        assert_eq!(m.find("/other"), None);
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for bad in ["api", "/api/", "/{x}", "/a//b", "/a?b"] {
            let r = Mounts::new(&[Mount {
                id: 0,
                prefix: bad.into(),
            }]);
            assert!(matches!(r, Err(RouteError::InvalidPath { .. })), "{bad}");
        }
        let dup = Mounts::new(&[
            Mount {
                id: 0,
                prefix: "/".into(),
            },
            Mount {
                id: 1,
                prefix: "".into(),
            },
        ]);
        assert!(matches!(dup, Err(RouteError::Conflict { .. })));
    }
}
