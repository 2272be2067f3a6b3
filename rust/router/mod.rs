//! The route table: built once at start-up from the table Python hands over, matched per request
//! without Python. No pyo3 here.

pub mod convert;
mod error;
mod mount;
mod pattern;
pub mod table;

pub use convert::{Converter, ParamValue};
pub use error::RouteError;
pub use mount::Mount;
pub use table::{Lookup, Params, RouteSpec, Router};
