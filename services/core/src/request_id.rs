//! Request ids. A client's `X-Request-Id` is kept only when the logs can
//! store it as it is (1 to 64 of `A-Z a-z 0-9 . _ : -`); any other value (too
//! long, other characters, sent twice) is dropped, so the request-id layer
//! draws a fresh one. The response always carries the id the logs used, and
//! no value a client sends can fail a log row (and with it the request).

use std::sync::Arc;

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

pub const HEADER: &str = "x-request-id";

/// Longest id the log columns hold (`request_id VARCHAR(64)`).
pub const MAX_LEN: usize = 64;

/// Whether a client's id can be logged as it is.
pub fn usable(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_LEN
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Middleware (outside the request-id layer): drops an unusable id.
pub async fn sanitize(mut req: Request) -> Request {
    let headers = req.headers_mut();
    let mut values = headers.get_all(HEADER).iter();
    let keep = match (values.next(), values.next()) {
        (Some(v), None) => usable(v.as_bytes()),
        _ => false,
    };
    if !keep {
        headers.remove(HEADER);
    }
    req
}

/// The request's id (after [`sanitize`] and the request-id layer: always
/// one usable id).
pub fn of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| usable(v.as_bytes()))
        .map(str::to_string)
}

tokio::task_local! {
    /// The id of the request this task serves: `Db` names it to the proxy on
    /// every connection it hands out (db.rs), so the proxy's logs of the
    /// request's shard statements carry it.
    static CURRENT: Arc<str>;
}

/// Middleware (inside the request-id layer): runs the handler with the
/// request's id as [`current`].
pub async fn scope(req: Request, next: Next) -> Response {
    match of(req.headers()) {
        Some(id) => CURRENT.scope(id.into(), next.run(req)).await,
        None => next.run(req).await,
    }
}

/// The id of the request the calling task serves (none outside requests and
/// in tasks a handler spawned).
pub fn current() -> Option<Arc<str>> {
    CURRENT.try_with(Arc::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(usable(b"req-2024.11:01_a"));
        assert!(usable(&[b'a'; 64]));
        assert!(!usable(&[b'a'; 65]));
        assert!(!usable(b""));
        assert!(!usable(b"has space"));
        assert!(!usable("中文".as_bytes()));
        assert!(!usable(b"a'b"));
    }
}
