//! The operator portal (运营门户): the built single-page application in
//! `portal/dist` (config `[portal] dir`), served from disk at `/` with a
//! history fallback, and Swagger UI at `/api-docs`.
//!
//! Served from a folder, not embedded: the portal is rebuilt without
//! rebuilding the server, and a server build does not need Node.
//! The build writes `.br` and `.gz` copies next to every text file, so
//! compression costs nothing per request. Hashed files under `/assets/`
//! are cached for a year; everything else (`index.html` above all) is
//! `no-cache`, so a new build shows at the next load.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

pub use crate::config::portal::PortalConfig;
use crate::problem::{self, ApiError};

/// Paths that stay the API's, whatever the portal has.
fn api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Sets the router's fallback: the portal's files, else the API's 404.
pub fn mount<S: Clone + Send + Sync + 'static>(router: Router<S>, cfg: &PortalConfig) -> Router<S> {
    match cfg.dir.clone() {
        Some(dir) => router.fallback(move |req: Request<Body>| serve(dir.clone(), req)),
        None => router.fallback(problem::fallback),
    }
}

async fn serve(dir: PathBuf, req: Request<Body>) -> Response {
    let path = req.uri().path().to_string();
    if api_path(&path) {
        return problem::fallback().await.into_response();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return ApiError::Rejected {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!("{} is not allowed on {path}", req.method()),
        }
        .into_response();
    }
    // A hashed asset that is not there is a 404, not the page: a stale
    // page asking for it would otherwise get HTML as JavaScript.
    let asset = path.starts_with("/assets/");
    if asset && !is_file(&dir, &path) {
        return ApiError::NotFound {
            kind: "file",
            id: path,
        }
        .into_response();
    }
    let index = ServeFile::new(dir.join("index.html"))
        .precompressed_br()
        .precompressed_gzip();
    let files = ServeDir::new(&dir)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(index);
    let mut resp = match files.oneshot(req).await {
        Ok(r) => r.into_response(),
        Err(e) => return ApiError::Internal(format!("portal file: {e}")).into_response(),
    };
    if resp.status() == StatusCode::NOT_FOUND {
        // No index.html: the portal was not built.
        return ApiError::Unavailable(format!(
            "the portal is not built in {} (run deploy/local/up.sh)",
            dir.display()
        ))
        .into_response();
    }
    let cache = if asset && resp.status().is_success() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    // The same URL answers br, gzip or plain bytes.
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    resp
}

/// Whether the URL path names a file under `dir` (no `..` escapes).
fn is_file(dir: &Path, url_path: &str) -> bool {
    let rel = url_path.trim_start_matches('/');
    if rel.split('/').any(|s| s == ".." || s.is_empty()) {
        return false;
    }
    dir.join(rel).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_never_the_portal() {
        assert!(api_path("/api/v1/nope"));
        assert!(api_path("/api"));
        assert!(!api_path("/api-docs"));
        assert!(!api_path("/numbers"));
    }

    #[test]
    fn file_checks_refuse_escapes() {
        let dir = std::env::temp_dir();
        assert!(!is_file(&dir, "/../etc/passwd"));
        assert!(!is_file(&dir, "/assets//x.js"));
    }
}
