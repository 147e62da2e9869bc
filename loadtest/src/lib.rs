//! haoka-loadtest: benchmarks that print a ratio against a baseline measured
//! in the same run, because these machines are noisy.

pub mod batch;
pub mod numbers;
pub mod procstat;
pub mod relay;
pub mod reports;
pub mod sysbench;
pub mod transfers;
pub mod txn_cost;
