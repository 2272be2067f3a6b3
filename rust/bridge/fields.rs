//! Reading the typed objects Python hands over at start-up (`ServerConfig`, each `RouteEntry`
//! of the route table, the `Runtime`; see designs/bridge.md). Every field is required: a
//! missing or ill-typed one is a `ConfigError` naming its owner and the field, never a default.

use pyo3::exceptions::PyAttributeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};

use super::errors::ConfigError;

/// One object whose fields are read, and how errors name it ("ServerConfig",
/// "route table entry 3", "runtime").
pub struct Fields<'a, 'py> {
    obj: &'a Bound<'py, PyAny>,
    owner: &'a str,
}

impl<'a, 'py> Fields<'a, 'py> {
    /// Fields of `obj`, called `owner` in errors.
    pub fn new(obj: &'a Bound<'py, PyAny>, owner: &'a str) -> Self {
        Fields { obj, owner }
    }

    /// The field as it is; only its presence is checked.
    pub fn any(&self, name: &str) -> PyResult<Bound<'py, PyAny>> {
        match self.obj.getattr(name) {
            Ok(v) => Ok(v),
            Err(e) if e.is_instance_of::<PyAttributeError>(self.obj.py()) => Err(
                ConfigError::new_err(format!("{}: field `{name}` missing", self.owner)),
            ),
            Err(e) => Err(e),
        }
    }

    /// The field converted to `T`; `expected` says what it must be ("int", "str or None").
    /// A bool is refused where a number is expected (Python lets `True` pass as 1).
    pub fn get<T: FromPyObject<'py>>(&self, name: &str, expected: &str) -> PyResult<T> {
        let v = self.any(name)?;
        if v.is_instance_of::<PyBool>() && !expected.starts_with("bool") {
            return Err(self.ill_typed(name, expected, &v));
        }
        v.extract().map_err(|_| self.ill_typed(name, expected, &v))
    }

    /// The `ConfigError` for field `name` holding `value`, which is not `expected`.
    pub fn ill_typed(&self, name: &str, expected: &str, value: &Bound<'py, PyAny>) -> PyErr {
        ConfigError::new_err(format!(
            "{}: field `{name}` must be {expected}, got {}",
            self.owner,
            describe(value)
        ))
    }
}

/// The value's type, and the value itself when it is a short number ("int -1"), so a value of
/// the right type but out of range reads as such.
pub fn describe(value: &Bound<'_, PyAny>) -> String {
    let ty = value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    let number = value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>();
    match value.repr() {
        Ok(r) if number && r.len().is_ok_and(|n| n <= 24) => format!("{ty} {r}"),
        _ => ty,
    }
}
