//! Helpers for the local-stack tests live in `tests/`; this crate has no library code.
