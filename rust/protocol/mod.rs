//! Wire protocols, sans-IO: bytes in, events and bytes out. No pyo3, no sockets here.

pub mod h1;
