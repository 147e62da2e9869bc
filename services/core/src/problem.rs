//! Every error the API returns: one enum, each variant with an HTTP status and a
//! stable machine code, rendered as an `application/problem+json` body.

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response (RFC 9457 problem details).
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP reason phrase.
    pub title: String,
    pub status: u16,
    /// Stable machine code, e.g. `bad_credentials`, `permission_denied`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(String),
    #[error("{message}")]
    Rejected { status: StatusCode, message: String },
    #[error("authentication required: send Authorization: Bearer <token>")]
    Unauthenticated,
    #[error("the session has expired or was revoked; log in again")]
    SessionInvalid,
    #[error("wrong staff number or password")]
    BadCredentials,
    #[error("the account is locked until {0}")]
    Locked(crate::time::Timestamp),
    #[error("the account is locked for another {0} s")]
    LockedFor(u64),
    #[error("{0}")]
    LoginDenied(String),
    #[error("this endpoint needs the permission {0}")]
    PermissionDenied(&'static str),
    #[error("province {0} is outside your data scope")]
    OutOfScope(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("the password must be changed first (POST /api/v1/auth/password)")]
    PasswordChangeRequired,
    #[error("{0}")]
    PasswordPolicy(String),
    #[error("{kind} {id} does not exist")]
    NotFound { kind: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    /// A business rule refuses the request (a status change the transition
    /// table does not allow, an unusable card...): 409 with a specific code.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("{message}")]
    Signature { code: &'static str, message: String },
    #[error("rate limit of {0} calls per minute exceeded")]
    RateLimited(u32),
    #[error("a backend is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn not_found(kind: &'static str, id: impl ToString) -> ApiError {
        ApiError::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            Invalid(_) => StatusCode::BAD_REQUEST,
            Rejected { status, .. } => *status,
            Unauthenticated | SessionInvalid | BadCredentials | Signature { .. } => {
                StatusCode::UNAUTHORIZED
            }
            Locked(_) | LockedFor(_) => StatusCode::LOCKED,
            LoginDenied(_)
            | PermissionDenied(_)
            | OutOfScope(_)
            | PasswordChangeRequired
            | NotAllowed(_)
            | WrongPassword => StatusCode::FORBIDDEN,
            PasswordPolicy(_) => StatusCode::UNPROCESSABLE_ENTITY,
            NotFound { .. } => StatusCode::NOT_FOUND,
            Conflict(_) | Refused { .. } => StatusCode::CONFLICT,
            RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            Invalid(_) => "invalid_request",
            Rejected { status, .. } => match *status {
                StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
                StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
                StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
                StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
                _ => "invalid_request",
            },
            Unauthenticated => "unauthenticated",
            SessionInvalid => "session_invalid",
            BadCredentials => "bad_credentials",
            Locked(_) | LockedFor(_) => "account_locked",
            LoginDenied(_) => "login_denied",
            PermissionDenied(_) => "permission_denied",
            OutOfScope(_) => "province_out_of_scope",
            PasswordChangeRequired => "password_change_required",
            NotAllowed(_) => "not_allowed",
            WrongPassword => "wrong_password",
            PasswordPolicy(_) => "password_policy",
            NotFound { .. } => "not_found",
            Conflict(_) => "conflict",
            Refused { code, .. } => code,
            Signature { code, .. } => code,
            RateLimited(_) => "rate_limited",
            Unavailable(_) => "backend_unavailable",
            Internal(_) => "internal_error",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        Problem {
            kind: format!("https://haoka.dev/problems/{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            code: self.code().to_string(),
            message: self.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) | ApiError::Unavailable(detail) = &self {
            tracing::error!(code = self.code(), %detail, "request failed");
        }
        let status = self.status();
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::RateLimited(_) = self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        }
        resp
    }
}

/// What a value of a Rust type name is, for people.
fn expected(type_name: &str) -> String {
    let base = type_name.rsplit("::").next().unwrap_or(type_name);
    if matches!(
        base,
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize"
    ) {
        format!("an integer ({base}: digits only, no fraction or exponent)")
    } else {
        format!("a {base}")
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        use axum::extract::path::ErrorKind;
        let message = match &r {
            PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
                ErrorKind::ParseErrorAtKey {
                    key,
                    value,
                    expected_type,
                } => format!(
                    "path parameter {key} = {value:?} is not {}",
                    expected(expected_type)
                ),
                ErrorKind::ParseErrorAtIndex {
                    index,
                    value,
                    expected_type,
                } => format!(
                    "path parameter {} = {value:?} is not {}",
                    index + 1,
                    expected(expected_type)
                ),
                ErrorKind::ParseError {
                    value,
                    expected_type,
                } => format!(
                    "path parameter {value:?} is not {}",
                    expected(expected_type)
                ),
                _ => r.body_text(),
            },
            _ => r.body_text(),
        };
        ApiError::Rejected {
            status: StatusCode::BAD_REQUEST,
            message,
        }
    }
}

/// MySQL error numbers the API turns into client errors.
const ER_DUP_ENTRY: u16 = 1062;
const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
const ER_LOCK_DEADLOCK: u16 = 1213;

/// The conflict a deadlock or lock wait timeout becomes: the whole
/// transaction was rolled back and may simply be run again.
pub const COLLISION: &str = "the change collided with a concurrent one; retry it";

impl ApiError {
    /// A deadlock or lock wait timeout (see [`COLLISION`]).
    pub fn is_collision(&self) -> bool {
        matches!(self, ApiError::Conflict(m) if m == COLLISION)
    }
}

impl From<mysql_async::Error> for ApiError {
    fn from(e: mysql_async::Error) -> Self {
        match &e {
            mysql_async::Error::Server(s) if s.code == ER_DUP_ENTRY => {
                ApiError::Conflict(format!("already exists: {}", s.message))
            }
            mysql_async::Error::Server(s)
                if s.code == ER_LOCK_DEADLOCK || s.code == ER_LOCK_WAIT_TIMEOUT =>
            {
                ApiError::Conflict(COLLISION.into())
            }
            mysql_async::Error::Server(s) => ApiError::Internal(format!("database: {s}")),
            _ => ApiError::Unavailable(format!("database: {e}")),
        }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(e: redis::RedisError) -> Self {
        ApiError::Unavailable(format!("redis: {e}"))
    }
}

/// A JSON body. Rejections are problem bodies (415 wrong content type, 413
/// too large, 400 not JSON, 422 not the expected shape, naming the field).
/// Integral floats (`3.0`) count as integers, as JSON Schema says they are.
pub struct Json<T>(pub T);

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|m| {
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

/// Largest integer a JSON float holds exactly (2^53).
const EXACT_FLOAT_INT: f64 = 9_007_199_254_740_992.0;

fn integral_floats_to_ints(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                if f.fract() == 0.0 && f.abs() <= EXACT_FLOAT_INT {
                    *n = serde_json::Number::from(f as i64);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_floats_to_ints),
        serde_json::Value::Object(map) => map.values_mut().for_each(integral_floats_to_ints),
        _ => {}
    }
}

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::Rejected {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: "expected a body with Content-Type: application/json".into(),
            });
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::Rejected {
                status: e.status(),
                message: e.body_text(),
            })?;
        let mut value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::Rejected {
                status: StatusCode::BAD_REQUEST,
                message: format!("the body is not valid JSON: {e}"),
            })?;
        integral_floats_to_ints(&mut value);
        serde_path_to_error::deserialize(value)
            .map(Json)
            .map_err(|e| ApiError::Rejected {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: format!("the body does not fit at {}: {}", e.path(), e.inner()),
            })
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query parameters. One that does not fit answers 400 naming the
/// parameter, its value and what it should be.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S>
    for Query<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or_default().as_bytes();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let name = e.path().to_string();
                let value = form_urlencoded::parse(raw)
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.into_owned());
                let why = e.inner().to_string();
                ApiError::Invalid(match value {
                    Some(v) if why.contains("invalid digit") || why.contains("number too") => {
                        format!(
                            "query parameter {name} = {v:?} is not an integer in range (digits only, no fraction or exponent)"
                        )
                    }
                    Some(v) => format!("query parameter {name} = {v:?}: {why}"),
                    None => format!("the query does not fit: {why}"),
                })
            })
    }
}

#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// axum answers a method a route does not serve with an empty 405; this
/// middleware makes it a problem like every other error (axum adds `Allow`).
pub async fn method_not_allowed(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if resp.status() != StatusCode::METHOD_NOT_ALLOWED
        || resp.headers().contains_key(header::CONTENT_TYPE)
    {
        return resp;
    }
    ApiError::Rejected {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: "this path does not serve that method (the Allow header lists those it does)"
            .into(),
    }
    .into_response()
}

/// Unknown routes answer with a problem too.
pub async fn fallback() -> ApiError {
    ApiError::NotFound {
        kind: "route",
        id: "for this path".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_are_stable() {
        let e = ApiError::not_found("staff", 7);
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        let p = e.problem();
        assert_eq!(p.code, "not_found");
        assert_eq!(p.message, "staff 7 does not exist");
        assert_eq!(ApiError::RateLimited(5).status().as_u16(), 429);
    }

    #[test]
    fn integral_floats_become_integers() {
        let mut v = serde_json::json!({"a": 3.0, "b": [1.5, -2.0], "c": "4.0"});
        integral_floats_to_ints(&mut v);
        assert_eq!(v, serde_json::json!({"a": 3, "b": [1.5, -2], "c": "4.0"}));
    }
}
