//! Test-only crash points: `HAOKA_PROXY_FAILPOINT=<name>` makes the proxy
//! abort at that point of the commit protocol (the crash tests use it to
//! leave in-doubt XA branches behind).

use std::sync::OnceLock;

/// Points in `coordinator::commit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    /// Every XA branch is prepared; the decision is not written.
    XaAfterPrepare,
    /// The decision (commit) is durable; no XA branch is committed yet.
    XaAfterDecision,
}

impl Failpoint {
    fn name(self) -> &'static str {
        match self {
            Failpoint::XaAfterPrepare => "xa_after_prepare",
            Failpoint::XaAfterDecision => "xa_after_decision",
        }
    }
}

fn armed() -> Option<&'static str> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| std::env::var("HAOKA_PROXY_FAILPOINT").ok())
        .as_deref()
}

/// Aborts the process when `point` is armed.
pub fn hit(point: Failpoint) {
    if armed() == Some(point.name()) {
        tracing::error!(failpoint = point.name(), "failpoint reached: aborting");
        std::process::abort();
    }
}
