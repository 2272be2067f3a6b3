//! `covetpy.auth.Identity` (`request.auth`): a handle on the identity Rust verified, made
//! once per request that asks for it (one Python allocation); its sets and claims become
//! Python objects only when read. Python-verified layers (Basic, sessions, API-key lookups)
//! make their own with the same constructor.

use std::borrow::Cow;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyDict, PyFrozenSet, PyTuple, PyType};

use crate::auth;

static MSGSPEC_JSON: GILOnceCell<(PyObject, PyObject)> = GILOnceCell::new();

/// `msgspec.json.decode` and `msgspec.convert`, imported once.
fn msgspec(py: Python<'_>) -> PyResult<&(PyObject, PyObject)> {
    MSGSPEC_JSON.get_or_try_init(py, || {
        let m = py.import("msgspec")?;
        Ok::<_, PyErr>((
            m.getattr("json")?.getattr("decode")?.unbind(),
            m.getattr("convert")?.unbind(),
        ))
    })
}

/// A verified identity.
#[pyclass(module = "covetpy._core", name = "Identity", frozen)]
pub struct PyIdentity {
    id: Arc<auth::Identity>,
    /// Permissions beyond the scopes: what the roles grant (`role_permissions`), or the ones a
    /// Python layer gave.
    granted: Vec<Box<str>>,
    /// `granted` is the whole permission set (a Python layer said so), not added to the scopes.
    explicit: bool,
    /// Claims a Python layer gave as a mapping (Rust-verified ones are `id.claims`, JSON).
    given_claims: Option<PyObject>,
    scopes: GILOnceCell<Py<PyFrozenSet>>,
    roles: GILOnceCell<Py<PyFrozenSet>>,
    permissions: GILOnceCell<Py<PyFrozenSet>>,
    claims: GILOnceCell<PyObject>,
}

impl PyIdentity {
    /// The handle of a Rust-verified identity; its roles' permissions from `table`.
    pub fn new(id: Arc<auth::Identity>, table: &auth::RoleTable) -> PyIdentity {
        let mut granted: Vec<Box<str>> = Vec::new();
        for r in &id.roles {
            if let Some(perms) = table.get(&**r) {
                granted.extend(perms.iter().map(|p| Box::from(p.as_str())));
            }
        }
        PyIdentity {
            id,
            granted,
            explicit: false,
            given_claims: None,
            scopes: GILOnceCell::new(),
            roles: GILOnceCell::new(),
            permissions: GILOnceCell::new(),
            claims: GILOnceCell::new(),
        }
    }
}

fn names(values: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Box<str>>> {
    let mut out = Vec::new();
    if let Some(v) = values {
        if v.is_instance_of::<pyo3::types::PyString>() {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "scopes, roles and permissions are lists of names, not one string",
            ));
        }
        for item in v.try_iter()? {
            out.push(Box::from(item?.extract::<String>()?.as_str()));
        }
    }
    Ok(out)
}

fn frozenset<'a>(
    py: Python<'_>,
    cell: &'a GILOnceCell<Py<PyFrozenSet>>,
    items: impl Iterator<Item = &'a str>,
) -> PyResult<Py<PyFrozenSet>> {
    cell.get_or_try_init(py, || Ok::<_, PyErr>(PyFrozenSet::new(py, items)?.unbind()))
        .map(|s| s.clone_ref(py))
}

#[pymethods]
impl PyIdentity {
    /// `Identity(scheme, subject, scopes=(), roles=(), permissions=None, claims=None)`:
    /// `permissions` None means the scopes; `claims` a mapping, or the payload as JSON bytes.
    #[new]
    #[pyo3(signature = (scheme, subject=None, scopes=None, roles=None, permissions=None, claims=None))]
    fn py_new(
        scheme: String,
        subject: Option<String>,
        scopes: Option<&Bound<'_, PyAny>>,
        roles: Option<&Bound<'_, PyAny>>,
        permissions: Option<&Bound<'_, PyAny>>,
        claims: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyIdentity> {
        let explicit = permissions.is_some_and(|p| !p.is_none());
        let granted = if explicit {
            names(permissions)?
        } else {
            Vec::new()
        };
        let (raw, given_claims) = match claims {
            Some(c) if c.is_instance_of::<PyBytes>() => (Some(c.extract::<Vec<u8>>()?), None),
            // A copy, as a dict: the caller's mapping may change afterwards.
            Some(c) if !c.is_none() => {
                let d = c.py().get_type::<PyDict>().call1((c,))?;
                (None, Some(d.unbind()))
            }
            _ => (None, None),
        };
        let id = auth::Identity {
            scheme: Cow::Owned(scheme),
            subject: subject.map(String::into_boxed_str),
            scopes: names(scopes)?,
            roles: names(roles)?,
            claims: raw,
        };
        Ok(PyIdentity {
            id: Arc::new(id),
            granted,
            explicit,
            given_claims,
            scopes: GILOnceCell::new(),
            roles: GILOnceCell::new(),
            permissions: GILOnceCell::new(),
            claims: GILOnceCell::new(),
        })
    }

    /// Which layer verified it: "jwt", "api_key", "basic", "session", ...
    #[getter]
    fn scheme(&self) -> &str {
        &self.id.scheme
    }

    /// The token's `sub`, the API key's name, the user name.
    #[getter]
    fn subject(&self) -> Option<&str> {
        self.id.subject.as_deref()
    }

    /// Granted scopes.
    #[getter]
    fn scopes(&self, py: Python<'_>) -> PyResult<Py<PyFrozenSet>> {
        frozenset(py, &self.scopes, self.id.scopes.iter().map(|s| &**s))
    }

    /// Granted roles.
    #[getter]
    fn roles(&self, py: Python<'_>) -> PyResult<Py<PyFrozenSet>> {
        frozenset(py, &self.roles, self.id.roles.iter().map(|s| &**s))
    }

    /// The scopes plus what the roles grant by `App(role_permissions=...)` (or the
    /// permissions a Python layer gave).
    #[getter]
    fn permissions(&self, py: Python<'_>) -> PyResult<Py<PyFrozenSet>> {
        let scopes = self
            .id
            .scopes
            .iter()
            .take(if self.explicit { 0 } else { usize::MAX });
        frozenset(
            py,
            &self.permissions,
            scopes.chain(self.granted.iter()).map(|s| &**s),
        )
    }

    /// The token's claims as a dict, decoded on first use (empty for schemes without any).
    #[getter]
    fn claims(&self, py: Python<'_>) -> PyResult<PyObject> {
        self.claims
            .get_or_try_init(py, || -> PyResult<PyObject> {
                if let Some(c) = &self.given_claims {
                    return Ok(c.clone_ref(py));
                }
                match &self.id.claims {
                    Some(raw) => msgspec(py)?.0.call1(py, (PyBytes::new(py, raw),)),
                    None => Ok(PyDict::new(py).into_any().unbind()),
                }
            })
            .map(|c| c.clone_ref(py))
    }

    /// The claims decoded into `type_` (a msgspec Struct, a dataclass, a TypedDict, ...);
    /// `msgspec.ValidationError` when they do not fit.
    fn claims_as(&self, py: Python<'_>, type_: &Bound<'_, PyType>) -> PyResult<PyObject> {
        let (decode, convert) = msgspec(py)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("type", type_)?;
        match (&self.id.claims, &self.given_claims) {
            (Some(raw), _) => decode.call(py, (PyBytes::new(py, raw),), Some(&kwargs)),
            (None, Some(c)) => convert.call(py, (c.clone_ref(py), type_), None),
            (None, None) => convert.call(py, (PyDict::new(py), type_), None),
        }
    }

    fn __repr__(&self) -> String {
        let mut scopes: Vec<&str> = self.id.scopes.iter().map(|s| &**s).collect();
        let mut roles: Vec<&str> = self.id.roles.iter().map(|s| &**s).collect();
        scopes.sort_unstable();
        roles.sort_unstable();
        format!(
            "Identity(scheme={:?}, subject={:?}, scopes={scopes:?}, roles={roles:?})",
            &*self.id.scheme,
            self.id.subject.as_deref()
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        let Ok(other) = other.downcast::<PyIdentity>() else {
            return false;
        };
        let (a, b) = (&self.id, &other.get().id);
        a.scheme == b.scheme
            && a.subject == b.subject
            && same(&a.scopes, &b.scopes)
            && same(&a.roles, &b.roles)
    }

    /// The arguments that rebuild it (`copy`, `pickle`).
    fn __getnewargs__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(
            py,
            [
                self.id.scheme.as_ref().into_pyobject(py)?.into_any(),
                self.id.subject.as_deref().into_pyobject(py)?.into_any(),
                PyTuple::new(py, self.id.scopes.iter().map(|s| &**s))?.into_any(),
                PyTuple::new(py, self.id.roles.iter().map(|s| &**s))?.into_any(),
            ],
        )
    }
}

/// Whether two name lists hold the same set of names.
fn same(a: &[Box<str>], b: &[Box<str>]) -> bool {
    let set = |v: &[Box<str>]| {
        v.iter()
            .map(|s| s.to_string())
            .collect::<std::collections::BTreeSet<_>>()
    };
    set(a) == set(b)
}
