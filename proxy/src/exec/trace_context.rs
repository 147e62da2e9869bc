//! Request ids that clients put on their statements, sqlcommenter style
//! (`SELECT ... /*request_id='abc',traceparent='00-...'*/`). A statement that
//! carries one runs inside a `statement{request_id=...}` span, so the slow
//! query log and the per-shard statement log (target `shard_statement`, at
//! debug level) name the API request that caused them.
//!
//! A client whose statements are prepared once and executed many times (a
//! pooled driver's statement cache) cannot put a new comment on each one, so
//! a statement that is only such a comment (`/*request_id='abc'*/`) is a
//! marker: it sets the session's request id for every statement after it,
//! until the next marker, `/*request_id=''*/` (clears it) or a reset.

/// The request id of a statement's sqlcommenter comment: `request_id`, else
/// `traceparent`. Only a comment at the very end or start of the text counts
/// (where sqlcommenter puts it), and only ids the server's own request id
/// rule allows (1-64 of `A-Z a-z 0-9 . _ : -`), so a log line cannot be forged.
pub fn request_id(sql: &str) -> Option<&str> {
    let s = sql.trim_end_matches([' ', '\t', '\r', '\n', ';']);
    let body = s
        .strip_suffix("*/")
        .and_then(|h| h.rfind("/*").map(|i| &h[i + 2..]))
        .or_else(|| {
            let t = s.trim_start().strip_prefix("/*")?;
            t.find("*/").map(|i| &t[..i])
        })?;
    let mut fallback = None;
    for pair in body.split(',') {
        let Some((key, value)) = pair.trim().split_once('=') else {
            continue;
        };
        let value = value.trim().strip_prefix('\'')?.strip_suffix('\'')?;
        let ok = (1..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
        match key.trim() {
            "request_id" if ok => return Some(value),
            "traceparent" if ok => fallback = Some(value),
            _ => {}
        }
    }
    fallback
}

/// What a marker statement (nothing but a sqlcommenter comment) sets:
/// `Some(Some(id))` to set the session's request id, `Some(None)` to clear
/// it (`request_id=''`). `None`: not a marker, an ordinary statement.
pub fn marker(sql: &str) -> Option<Option<&str>> {
    let s = sql.trim_matches([' ', '\t', '\r', '\n', ';']);
    let body = s.strip_prefix("/*")?.strip_suffix("*/")?;
    if body.contains("*/") {
        return None;
    }
    if body.split(',').any(|pair| {
        pair.split_once('=')
            .is_some_and(|(k, v)| k.trim() == "request_id" && v.trim() == "''")
    }) {
        return Some(None);
    }
    let id = request_id(s)?;
    Some(Some(id))
}

#[cfg(test)]
mod tests {
    use super::{marker, request_id};

    #[test]
    fn a_comment_alone_is_a_marker() {
        assert_eq!(marker("/*request_id='req-9'*/"), Some(Some("req-9")));
        assert_eq!(marker(" /* request_id='r',route='x' */ ;"), Some(Some("r")));
        assert_eq!(marker("/*request_id=''*/"), Some(None));
        assert_eq!(marker("SELECT 1 /*request_id='req-9'*/"), None);
        assert_eq!(marker("/*request_id='a'*/ SELECT 1"), None);
        assert_eq!(marker("/* a */ /*request_id='b'*/"), None);
        assert_eq!(marker("/* plain */"), None);
        assert_eq!(marker("/*request_id='bad id'*/"), None);
    }

    #[test]
    fn finds_the_id_of_a_trailing_or_leading_comment() {
        assert_eq!(
            request_id("SELECT 1 /*request_id='req-1',route='%2Fapi'*/"),
            Some("req-1")
        );
        assert_eq!(
            request_id("/* traceparent='00-4bf9-00f0-01' */ UPDATE t SET a = 1;"),
            Some("00-4bf9-00f0-01")
        );
        assert_eq!(
            request_id("SELECT 1 /*traceparent='t-1',request_id='r-2'*/"),
            Some("r-2")
        );
    }

    #[test]
    fn ignores_other_comments_and_unsafe_ids() {
        assert_eq!(request_id("SELECT 1"), None);
        assert_eq!(request_id("SELECT /*request_id='x'*/ 1"), None);
        assert_eq!(request_id("SELECT 1 /* plain comment */"), None);
        assert_eq!(request_id("SELECT 1 /*request_id='a b\n'*/"), None);
        assert_eq!(request_id("SELECT 1 /*request_id=''*/"), None);
    }
}
