//! An awaitable that is already complete, so `await request.body()` costs no event-loop turn.

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;

/// `await`ing it returns its value at once, without a Future or a Task.
#[pyclass(module = "covetpy._core", frozen)]
pub struct Ready {
    value: GILOnceCell<PyObject>,
    taken: std::sync::atomic::AtomicBool,
}

impl Ready {
    /// Wraps a value.
    pub fn new(py: Python<'_>, value: PyObject) -> Self {
        let cell = GILOnceCell::new();
        let _ = cell.set(py, value);
        Ready {
            value: cell,
            taken: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

#[pymethods]
impl Ready {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<PyObject> {
        if self.taken.swap(true, std::sync::atomic::Ordering::Relaxed) {
            return Err(PyStopIteration::new_err(()));
        }
        let value = self
            .value
            .get(py)
            .map(|v| v.clone_ref(py))
            .unwrap_or_else(|| py.None());
        // The value travels in StopIteration's args, as for any generator's return.
        Err(PyStopIteration::new_err((value,)))
    }

    fn send(&self, py: Python<'_>, value: PyObject) -> PyResult<PyObject> {
        drop(value);
        self.__next__(py)
    }
}
