//! The database layer: a mysql_async pool pointed at haoka-proxy (never at a
//! shard). Permission tables live on the global shard, so a transaction over
//! them is a local one.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, Transaction, TxOpts, Value};

use crate::problem::ApiError;

#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// Connections whose proxy session names a request (see [`Db::mark`]).
    marked: Arc<Mutex<HashSet<u32>>>,
}

impl Db {
    /// The pool does not reset a connection (COM_RESET_CONNECTION) when it
    /// comes back: the services never change session state, and a reset
    /// would cost a round trip and drop the prepared-statement cache, so
    /// every statement would be prepared again. Open transactions and
    /// unread results are still cleaned up by the pool.
    pub fn new(url: &str) -> Result<Db, mysql_async::UrlError> {
        let opts = Opts::from_url(url)?;
        let pool_opts = opts.pool_opts().clone().with_reset_connection(false);
        Ok(Db {
            pool: Pool::new(OptsBuilder::from_opts(opts).pool_opts(pool_opts)),
            marked: Arc::default(),
        })
    }

    pub async fn conn(&self) -> Result<Conn, ApiError> {
        let mut conn = self.pool.get_conn().await?;
        let id = conn.id();
        self.mark(&mut conn, id).await?;
        Ok(conn)
    }

    /// Names the request being served to the proxy on a connection it hands
    /// out (a sqlcommenter marker statement, answered by the proxy itself),
    /// so the proxy's logs of the statements that follow carry the request
    /// id. Statements are prepared once per connection, so the id cannot
    /// ride on each one as a comment. A connection that named a request and
    /// is handed out outside one is cleared first.
    async fn mark<Q: Queryable>(&self, q: &mut Q, conn_id: u32) -> Result<(), ApiError> {
        let request = crate::request_id::current();
        let was_marked = {
            let mut marked = self.marked.lock().unwrap_or_else(|p| p.into_inner());
            match request {
                Some(_) => !marked.insert(conn_id),
                None => marked.remove(&conn_id),
            }
        };
        match request {
            // `current` holds only ids of the logs' alphabet: nothing to quote.
            Some(id) => q.query_drop(format!("/*request_id='{id}'*/")).await?,
            None if was_marked => q.query_drop("/*request_id=''*/").await?,
            None => {}
        }
        Ok(())
    }

    /// The pool itself, for parts that run outside a request (outbox relay,
    /// consumers).
    pub fn pool(&self) -> Pool {
        self.pool.clone()
    }

    pub async fn begin(&self) -> Result<Transaction<'static>, ApiError> {
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        let id = tx.id();
        self.mark(&mut tx, id).await?;
        Ok(tx)
    }

    /// The proxy answers a trivial query.
    pub async fn ping(&self) -> bool {
        match self.pool.get_conn().await {
            Ok(mut c) => c.query_drop("SELECT 1").await.is_ok(),
            Err(_) => false,
        }
    }

    pub async fn disconnect(self) {
        let _ = self.pool.disconnect().await;
    }
}

/// Runs `attempt` again (three tries in all) when it failed by colliding with
/// a concurrent transaction (deadlock, lock wait timeout): the database rolled
/// all of it back, so running it again is safe. `attempt` opens and commits
/// its own transaction.
pub async fn retry_collisions<T, F, Fut>(mut attempt: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_collision() && tries < 3 => tries += 1,
            r => return r,
        }
    }
}

/// Runs an INSERT that leaves the id column to the proxy's global sequence and
/// returns the id it drew.
pub async fn insert_id<Q: Queryable>(
    conn: &mut Q,
    sql: &str,
    params: Vec<Value>,
) -> Result<i64, ApiError> {
    conn.exec_drop(sql, params).await?;
    let id: Option<i64> = conn.query_first("SELECT LAST_INSERT_ID()").await?;
    match id {
        Some(id) if id > 0 => Ok(id),
        _ => Err(ApiError::Internal(format!("no sequence id for: {sql}"))),
    }
}

/// `s` matched literally inside a LIKE pattern.
fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// A WHERE clause built from optional filters, with its parameters.
#[derive(Default)]
pub struct Filter {
    conds: Vec<String>,
    pub params: Vec<Value>,
}

impl Filter {
    pub fn eq(&mut self, column: &str, value: Option<impl Into<Value>>) -> &mut Self {
        if let Some(v) = value {
            self.conds.push(format!("{column} = ?"));
            self.params.push(v.into());
        }
        self
    }

    pub fn like(&mut self, column: &str, needle: Option<&str>) -> &mut Self {
        if let Some(n) = needle {
            self.conds.push(format!("{column} LIKE ?"));
            self.params.push(format!("%{}%", escape_like(n)).into());
        }
        self
    }

    /// `column LIKE 'start%'`: a range of the column's index.
    pub fn starts_with(&mut self, column: &str, start: Option<&str>) -> &mut Self {
        if let Some(n) = start {
            self.conds.push(format!("{column} LIKE ?"));
            self.params.push(format!("{}%", escape_like(n)).into());
        }
        self
    }

    /// A condition the helpers above cannot say, with a `?` per parameter.
    pub fn condition(&mut self, sql: String, params: Vec<Value>) -> &mut Self {
        self.conds.push(sql);
        self.params.extend(params);
        self
    }

    /// `column IN (...)`; an empty list matches nothing.
    pub fn any_of(&mut self, column: &str, values: &[String]) -> &mut Self {
        self.in_list(column, None, values)
    }

    /// `column IN (<subquery> IN (...))`; an empty list matches nothing.
    pub fn any_of_subquery(
        &mut self,
        column: &str,
        subquery: &str,
        values: &[String],
    ) -> &mut Self {
        self.in_list(column, Some(subquery), values)
    }

    fn in_list(&mut self, column: &str, subquery: Option<&str>, values: &[String]) -> &mut Self {
        if values.is_empty() {
            self.conds.push("1 = 0".into());
            return self;
        }
        let list = format!("({})", vec!["?"; values.len()].join(", "));
        self.conds.push(match subquery {
            None => format!("{column} IN {list}"),
            Some(q) => format!("{column} IN ({q} IN {list})"),
        });
        self.params
            .extend(values.iter().map(|v| Value::from(v.as_str())));
        self
    }

    pub fn sql(&self) -> String {
        if self.conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conds.join(" AND "))
        }
    }
}

/// `page` counts from 1.
pub fn limit(page: u32, page_size: u32) -> String {
    let offset = u64::from(page.saturating_sub(1)) * u64::from(page_size);
    format!(" LIMIT {page_size} OFFSET {offset}")
}

/// Column `i` of a row; NULL or a type mismatch gives the default (the
/// queries select columns whose types match, so this only absorbs NULLs).
pub fn col<T: mysql_async::prelude::FromValue + Default>(row: &mysql_async::Row, i: usize) -> T {
    row.get_opt::<T, usize>(i)
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// One page of `table` under `filter`, with the total count.
pub async fn page<Q: Queryable>(
    c: &mut Q,
    table: &str,
    columns: &str,
    order_by: &str,
    filter: Filter,
    (page, size): (u32, u32),
) -> Result<(i64, Vec<mysql_async::Row>), ApiError> {
    let total: Option<i64> = c
        .exec_first(
            format!("SELECT COUNT(*) FROM {table}{}", filter.sql()),
            filter.params.clone(),
        )
        .await?;
    let rows = c
        .exec(
            format!(
                "SELECT {columns} FROM {table}{} ORDER BY {order_by}{}",
                filter.sql(),
                limit(page, size)
            ),
            filter.params,
        )
        .await?;
    Ok((total.unwrap_or(0), rows))
}

/// SQL placeholders for an IN list.
pub fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}
