//! haoka-loadtest: benchmarks that print a ratio against a same-run baseline.
