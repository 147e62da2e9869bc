//! 运维 shard status (permission `ops:read`, headquarters scope): what the
//! server's own proxy says about every shard — `SHOW HAOKA SHARDS` sent over
//! the server's proxy connection — so an operator sees which shard is down,
//! how full its pool is and how far a replica lags, without a MySQL client.
//! The list is the whole system's (every province's shards), so staff scoped
//! to provinces are refused rather than shown a partial picture.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use mysql_async::prelude::Queryable;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::rbac::{guarded, Permission, Principal};
use crate::problem::{ApiError, Json};
use crate::state::Shared;

pub fn router(state: &Shared) -> Router<Shared> {
    Router::new().route(
        "/api/v1/ops/shards",
        guarded(state, Permission::OpsRead, get(shards)),
    )
}

/// One backend of one shard as the proxy sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShardBackend {
    /// The logical schema (database) the shard belongs to.
    pub schema: String,
    /// The shard number (`global` for the global shard).
    pub shard: String,
    /// The data source (MariaDB host entry of the rules) serving it.
    pub datasource: String,
    pub address: String,
    /// The physical database on that host.
    pub database: String,
    /// primary or replica.
    pub role: String,
    /// up, down (circuit breaker open), or a replica's state.
    pub state: String,
    pub pool_in_use: u64,
    pub pool_idle: u64,
    /// How long the backend has been down, in milliseconds (0 while up).
    pub down_ms: u64,
    /// The last error the proxy saw from it (empty when none).
    pub last_error: String,
    /// A replica's Seconds_Behind_Master as last read (null while unknown).
    pub lag_s: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShardStatus {
    pub backends: Vec<ShardBackend>,
    /// Backends whose state is not `up`.
    pub unhealthy: usize,
}

#[utoipa::path(get, path = "/api/v1/ops/shards", tag = "ops",
    security(("bearer" = [])), responses((status = 200, body = ShardStatus)))]
pub async fn shards(
    State(state): State<Shared>,
    who: Principal,
) -> Result<Json<ShardStatus>, ApiError> {
    who.scope.check(None)?;
    let mut c = state.db.conn().await?;
    let rows: Vec<mysql_async::Row> = c.query("SHOW HAOKA SHARDS").await?;
    let backends: Vec<ShardBackend> = rows.iter().map(backend).collect::<Result<_, _>>()?;
    let unhealthy = backends.iter().filter(|b| b.state != "up").count();
    Ok(Json(ShardStatus {
        backends,
        unhealthy,
    }))
}

/// Reads one row by column name, so a proxy that adds columns still works.
fn backend(r: &mysql_async::Row) -> Result<ShardBackend, ApiError> {
    // The proxy answers SHOW in the text protocol: every cell is text or NULL.
    let text = |name: &str| -> Result<String, ApiError> {
        match r.get_opt::<Option<String>, &str>(name) {
            Some(Ok(v)) => Ok(v.unwrap_or_default()),
            Some(Err(e)) => Err(ApiError::Internal(format!("SHOW HAOKA SHARDS {name}: {e}"))),
            None => Err(ApiError::Internal(format!(
                "SHOW HAOKA SHARDS has no column {name}"
            ))),
        }
    };
    let number = |name: &str| -> Result<u64, ApiError> {
        let t = text(name)?;
        t.parse().map_err(|_| {
            ApiError::Internal(format!("SHOW HAOKA SHARDS {name} is not a number: {t}"))
        })
    };
    let lag = text("lag_s")?;
    Ok(ShardBackend {
        schema: text("schema")?,
        shard: text("shard")?,
        datasource: text("datasource")?,
        address: text("address")?,
        database: text("database")?,
        role: text("role")?,
        state: text("state")?,
        pool_in_use: number("pool_in_use")?,
        pool_idle: number("pool_idle")?,
        down_ms: number("down_ms")?,
        last_error: text("last_error")?,
        lag_s: if lag.is_empty() {
            None
        } else {
            lag.parse().ok()
        },
    })
}
