//! Read-only multi-valued mappings: request headers (case-insensitive) and query parameters.
//!
//! Both are built on first access only, from bytes the request already holds.

use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

/// Shared behaviour of [`Headers`] and [`QueryParams`]: ordered (name, value) pairs.
struct Pairs {
    items: Vec<(String, String)>,
    /// Whether names compare ASCII case-insensitively (headers) or exactly (query).
    fold: bool,
}

impl Pairs {
    fn matches(&self, a: &str, b: &str) -> bool {
        if self.fold {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(k, _)| self.matches(k, key))
            .map(|(_, v)| v.as_str())
    }

    fn getlist(&self, key: &str) -> Vec<&str> {
        self.items
            .iter()
            .filter(|(k, _)| self.matches(k, key))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn keys(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for (k, _) in &self.items {
            if !seen.iter().any(|s| self.matches(s, k)) {
                seen.push(k);
            }
        }
        seen
    }
}

macro_rules! multidict_methods {
    ($ty:ident, $read_only:literal) => {
        #[pymethods]
        impl $ty {
            /// The first value for `key`, or `default`.
            #[pyo3(signature = (key, default=None))]
            fn get(&self, py: Python<'_>, key: &str, default: Option<PyObject>) -> PyObject {
                match self.0.get(key) {
                    Some(v) => PyString::new(py, v).into_any().unbind(),
                    None => default.unwrap_or_else(|| py.None()),
                }
            }

            /// Every value for `key`, in order.
            fn getlist(&self, key: &str) -> Vec<String> {
                self.0.getlist(key).into_iter().map(str::to_owned).collect()
            }

            /// Distinct names in first-seen order.
            fn keys(&self) -> Vec<String> {
                self.0.keys().into_iter().map(str::to_owned).collect()
            }

            /// The first value of each distinct name.
            fn values(&self) -> Vec<String> {
                self.0
                    .keys()
                    .into_iter()
                    .filter_map(|k| self.0.get(k))
                    .map(str::to_owned)
                    .collect()
            }

            /// Every (name, value) pair, in order, duplicates included.
            fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
                let items = self
                    .0
                    .items
                    .iter()
                    .map(|(k, v)| PyTuple::new(py, [k.as_str(), v.as_str()]))
                    .collect::<PyResult<Vec<_>>>()?;
                PyList::new(py, items)
            }

            fn __getitem__(&self, key: &str) -> PyResult<String> {
                self.0
                    .get(key)
                    .map(str::to_owned)
                    .ok_or_else(|| PyKeyError::new_err(key.to_owned()))
            }

            // Without these, a write fails with Python's generic "does not support item
            // assignment", which does not say where to write instead.
            fn __setitem__(
                &self,
                _key: &Bound<'_, PyAny>,
                _value: &Bound<'_, PyAny>,
            ) -> PyResult<()> {
                Err(PyTypeError::new_err($read_only))
            }

            fn __delitem__(&self, _key: &Bound<'_, PyAny>) -> PyResult<()> {
                Err(PyTypeError::new_err($read_only))
            }

            fn __contains__(&self, key: &str) -> bool {
                self.0.get(key).is_some()
            }

            fn __len__(&self) -> usize {
                self.0.keys().len()
            }

            fn __iter__(&self, py: Python<'_>) -> PyResult<PyObject> {
                let keys = PyList::new(py, self.0.keys())?;
                Ok(keys.as_any().try_iter()?.into_any().unbind())
            }

            fn __repr__(&self) -> String {
                format!("{}({:?})", stringify!($ty), self.0.items)
            }
        }
    };
}

/// Request headers: case-insensitive, multi-valued, in the order received.
#[pyclass(module = "covetpy._core", frozen)]
pub struct Headers(Pairs);

/// Query parameters: multi-valued, in order, percent- and `+`-decoded.
#[pyclass(module = "covetpy._core", frozen)]
pub struct QueryParams(Pairs);

multidict_methods!(
    Headers,
    "request headers are read-only; set headers on the Response"
);
multidict_methods!(QueryParams, "query parameters are read-only");

impl Headers {
    /// Headers from raw pairs; values are decoded as Latin-1 (RFC 9110 §5.5 obs-text).
    pub fn from_raw<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Self {
        let latin1 = |b: &[u8]| b.iter().map(|&c| c as char).collect::<String>();
        Headers(Pairs {
            items: pairs.map(|(k, v)| (latin1(k), latin1(v))).collect(),
            fold: true,
        })
    }
}

impl QueryParams {
    /// Parses an `application/x-www-form-urlencoded` query string; undecodable parts are
    /// kept as they were rather than failing the request.
    pub fn parse(query: &[u8]) -> Self {
        let items = query
            .split(|&b| b == b'&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = match pair.iter().position(|&b| b == b'=') {
                    Some(i) => (&pair[..i], &pair[i + 1..]),
                    None => (pair, &pair[..0]),
                };
                (form_decode(k), form_decode(v))
            })
            .collect();
        QueryParams(Pairs { items, fold: false })
    }
}

/// Decodes `+` as space and `%XX` escapes; invalid escapes stay literal, invalid UTF-8 is
/// replaced (U+FFFD) so a bad byte never fails the request.
pub fn form_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    raw.get(i + 1).and_then(|&c| hex(c)),
                    raw.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn decodes_plus_and_escapes_and_keeps_bad_ones() {
        assert_eq!(form_decode(b"a+b%20c"), "a b c");
        assert_eq!(form_decode(b"100%"), "100%");
        assert_eq!(form_decode(b"%zz%4"), "%zz%4");
        assert_eq!(form_decode(b"%C3%A9"), "\u{e9}");
        assert_eq!(form_decode(b"%FF"), "\u{fffd}");
    }
}
