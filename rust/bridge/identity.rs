//! `covetpy.PeerIdentity`: who the client is, by the certificate a trusted proxy checked.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::mesh::xfcc;

/// The client certificate a trusted proxy saw (Envoy's `x-forwarded-client-cert`, the element
/// the nearest proxy added). Immutable.
#[pyclass(module = "covetpy._core", frozen, eq)]
#[derive(PartialEq)]
pub struct PeerIdentity {
    inner: xfcc::PeerIdentity,
}

impl PeerIdentity {
    /// Wraps a parsed XFCC element.
    pub fn new(inner: xfcc::PeerIdentity) -> Self {
        PeerIdentity { inner }
    }
}

#[pymethods]
impl PeerIdentity {
    /// The SPIFFE id (`spiffe://trust-domain/path`) of the certificate's URI SAN, if it has
    /// exactly one and it is a SPIFFE id.
    #[getter]
    fn spiffe_id(&self) -> Option<&str> {
        self.inner.spiffe_id()
    }

    /// The certificate's (first) URI SAN.
    #[getter]
    fn uri(&self) -> Option<&str> {
        self.inner.uri.as_deref()
    }

    /// Its DNS SANs.
    #[getter]
    fn dns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.inner.dns)
    }

    /// Its subject, as the proxy wrote it (`CN=frontend,O=Example`).
    #[getter]
    fn subject(&self) -> Option<&str> {
        self.inner.subject.as_deref()
    }

    /// The SHA-256 of the certificate (hex), as the proxy wrote it.
    #[getter]
    fn hash(&self) -> Option<&str> {
        self.inner.hash.as_deref()
    }

    /// The proxy's own identity (its certificate's SAN), when it said.
    #[getter]
    fn by(&self) -> Option<&str> {
        self.inner.by.as_deref()
    }

    fn __repr__(&self) -> String {
        match (self.inner.spiffe_id(), &self.inner.subject) {
            (Some(id), _) => format!("PeerIdentity(spiffe_id={id:?})"),
            (None, Some(s)) => format!("PeerIdentity(subject={s:?})"),
            (None, None) => "PeerIdentity()".to_owned(),
        }
    }
}
