//! Unit tests of the authentication layers: tokens made here with the crate's own encoder.
