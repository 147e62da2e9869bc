//! Finishes in-doubt XA branches: at proxy start and every few seconds (any
//! proxy finishes any proxy's transactions). For each prepared branch of
//! ours that `XA RECOVER` lists, the decision log decides: a recovery
//! tombstone (`abort`) is inserted at the coordinator; if that is refused
//! with a duplicate key, the logged outcome stands (see `decision`).
//! Also creates the decision tables and sweeps old decisions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_common::value::Value;

use super::decision::{lookup_sql, sweep_sql, tombstone_sql, Outcome, DDL};
use super::xid::Xid;
use crate::backend::{BackendError, PooledConn, Response};
use crate::exec::Shared;
use crate::rules::Place;

/// Time between scans.
const INTERVAL: Duration = Duration::from_secs(5);
/// A branch found in doubt is resolved only after it was seen this long (a
/// live coordinator finishes well within it)...
const GRACE: Duration = Duration::from_secs(10);
/// ...except what the scan at start finds: left by an earlier run, it is
/// resolved by a second scan this much later.
const STARTUP_GRACE: Duration = Duration::from_secs(2);
/// Decisions older than this (and not needed by an in-doubt branch) are
/// deleted, every `SWEEP_EVERY` scans.
const SWEEP_AGE_S: u32 = 60;
const SWEEP_EVERY: u64 = 12;
/// How long the start waits for the decision tables.
const CREATE_WAIT: Duration = Duration::from_secs(3);
/// How long a tombstone waits for an in-flight coordinator commit.
const TOMBSTONE_WAIT_S: u32 = 5;
/// ER_XAER_NOTA: the branch is gone (someone else finished it).
const XAER_NOTA: u16 = 1397;
const DUP_KEY: u16 = 1062;

#[derive(Debug, thiserror::Error)]
enum RecoveryError {
    #[error("{site}: {source}")]
    Backend { site: String, source: BackendError },
    #[error("{0}")]
    Other(String),
}

fn site_name(shared: &Shared, schema: usize, place: Place) -> String {
    let s = &shared.rules.schemas[schema];
    format!("{} ({})", s.name, s.target(place).database)
}

async fn conn(shared: &Shared, schema: usize, place: Place) -> Result<PooledConn, RecoveryError> {
    shared.schemas[schema]
        .pool(place)
        .get()
        .await
        .map_err(|source| RecoveryError::Backend {
            site: site_name(shared, schema, place),
            source,
        })
}

/// Every (schema, place) of the rules.
fn sites(shared: &Shared) -> Vec<(usize, Place)> {
    shared
        .rules
        .schemas
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.all_places().map(move |p| (i, p)))
        .collect()
}

/// Creates the decision table on every place (idempotent, all places at
/// once, for at most `CREATE_WAIT`: a shard that is down must not hold up the
/// proxy's start); returns how many places did not confirm (every later scan
/// tries again until all did).
pub async fn create_decision_tables(shared: &Arc<Shared>) -> usize {
    let sites = sites(shared);
    let total = sites.len();
    let mut set = tokio::task::JoinSet::new();
    for (s, p) in sites {
        let shared = shared.clone();
        set.spawn(async move {
            let mut c = conn(&shared, s, p).await?;
            c.query_drop(DDL)
                .await
                .map_err(|source| RecoveryError::Backend {
                    site: site_name(&shared, s, p),
                    source,
                })
        });
    }
    let mut done = 0;
    let collect = async {
        while let Some(j) = set.join_next().await {
            match j {
                Ok(Ok(())) => done += 1,
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot create the XA decision table"),
                Err(e) => tracing::warn!(error = %e, "decision table task failed"),
            }
        }
    };
    if tokio::time::timeout(CREATE_WAIT, collect).await.is_err() {
        tracing::warn!("some shards did not answer: their XA decision tables are created later");
    }
    total - done
}

/// Creates the decision tables, then scans now and every few seconds.
pub async fn start(shared: Arc<Shared>) {
    create_decision_tables(&shared).await;
    tokio::spawn(async move {
        let mut r = Recovery {
            shared,
            first_seen: HashMap::new(),
            at_startup: HashSet::new(),
            scans: 0,
            tables_ok: false,
        };
        loop {
            if let Err(e) = r.scan().await {
                tracing::warn!(error = %e, "XA recovery scan incomplete");
            }
            let pause = if r.scans == 1 {
                STARTUP_GRACE
            } else {
                INTERVAL
            };
            tokio::time::sleep(pause).await;
        }
    });
}

struct Recovery {
    shared: Arc<Shared>,
    first_seen: HashMap<Xid, Instant>,
    /// Found by the first scan.
    at_startup: HashSet<Xid>,
    scans: u64,
    tables_ok: bool,
}

impl Recovery {
    async fn scan(&mut self) -> Result<(), RecoveryError> {
        let startup = self.scans == 0;
        self.scans += 1;
        if !self.tables_ok {
            self.tables_ok = create_decision_tables(&self.shared).await == 0;
        }
        let started = Instant::now();
        // One XA RECOVER per server: it lists the whole server's branches.
        let mut servers: BTreeMap<usize, (usize, Place)> = BTreeMap::new();
        for (s, p) in sites(&self.shared) {
            let ds = self.shared.rules.schemas[s].target(p).datasource;
            servers.entry(ds).or_insert((s, p));
        }
        let mut complete = true;
        let mut seen = HashSet::new();
        for (s, p) in servers.into_values() {
            match self.scan_server(s, p, startup, &mut seen).await {
                Ok(()) => {}
                Err(e) => {
                    complete = false;
                    tracing::warn!(error = %e, "XA recovery: server not scanned");
                }
            }
        }
        self.first_seen.retain(|x, _| seen.contains(x));
        self.at_startup.retain(|x| seen.contains(x));
        if complete
            && self.scans % SWEEP_EVERY == 1
            && started.elapsed() < Duration::from_secs(SWEEP_AGE_S as u64 / 2)
        {
            self.sweep(&seen).await;
        }
        Ok(())
    }

    async fn scan_server(
        &mut self,
        schema: usize,
        place: Place,
        startup: bool,
        seen: &mut HashSet<Xid>,
    ) -> Result<(), RecoveryError> {
        let shared = self.shared.clone();
        let wrap = |source| RecoveryError::Backend {
            site: site_name(&shared, schema, place),
            source,
        };
        let mut c = conn(&shared, schema, place).await?;
        let rows = c.query_collect("XA RECOVER").await.map_err(wrap)?.rows;
        let now = Instant::now();
        for row in rows {
            let Some(xid) = parse_recover_row(&row) else {
                continue;
            };
            seen.insert(xid.clone());
            let first = *self.first_seen.entry(xid.clone()).or_insert(now);
            if startup {
                self.at_startup.insert(xid.clone());
            }
            let grace = if self.at_startup.contains(&xid) {
                STARTUP_GRACE
            } else {
                GRACE
            };
            if now.duration_since(first) < grace {
                continue;
            }
            match self.decide(&xid).await {
                Ok(Some(outcome)) => {
                    let verb = match outcome {
                        Outcome::Commit => "COMMIT",
                        Outcome::Abort => "ROLLBACK",
                    };
                    match c.query_drop(&format!("XA {verb} {}", xid.sql())).await {
                        Ok(()) => {
                            let m = &shared.txn;
                            match outcome {
                                Outcome::Commit => &m.recovered_commit,
                                Outcome::Abort => &m.recovered_rollback,
                            }
                            .fetch_add(1, Ordering::Relaxed);
                            tracing::info!(gtrid = %xid.gtrid, bqual = %xid.bqual, verb, "XA recovery finished a branch");
                        }
                        Err(BackendError::Server(e)) if e.code == XAER_NOTA => {}
                        Err(e) => {
                            tracing::warn!(gtrid = %xid.gtrid, error = %e, "XA recovery could not finish a branch");
                            if c.is_broken() {
                                return Err(wrap(e));
                            }
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(gtrid = %xid.gtrid, error = %e, "XA recovery: no decision")
                }
            }
        }
        Ok(())
    }

    /// The outcome of `xid`'s transaction, deciding `abort` if none is
    /// logged; `None` while its coordinator is still committing.
    async fn decide(&self, xid: &Xid) -> Result<Option<Outcome>, RecoveryError> {
        let shared = &self.shared;
        let coord = xid
            .coordinator()
            .ok_or_else(|| RecoveryError::Other("xid without coordinator".into()))?;
        let schema = shared
            .rules
            .schemas
            .iter()
            .position(|s| s.name == coord.schema)
            .ok_or_else(|| {
                RecoveryError::Other(format!(
                    "coordinator schema {} is not in the rules",
                    coord.schema
                ))
            })?;
        let wrap = |source| RecoveryError::Backend {
            site: site_name(shared, schema, coord.place),
            source,
        };
        let mut c = conn(shared, schema, coord.place).await?;
        match c
            .query(&tombstone_sql(&xid.gtrid, TOMBSTONE_WAIT_S))
            .await
            .map_err(wrap)?
        {
            Response::Ok(_) => Ok(Some(Outcome::Abort)),
            Response::Err(e) if e.code == DUP_KEY => {
                let r = c
                    .query_collect(&lookup_sql(&xid.gtrid))
                    .await
                    .map_err(wrap)?;
                let word = match r.rows.first().and_then(|row| row.first()) {
                    Some(Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
                    _ => String::new(),
                };
                Outcome::parse(&word)
                    .map(Some)
                    .ok_or_else(|| RecoveryError::Other(format!("unreadable decision {word:?}")))
            }
            // Lock wait: the coordinator is committing right now.
            Response::Err(e) if e.code == 1205 => Ok(None),
            Response::Err(e) => Err(wrap(BackendError::Server(e))),
            Response::ResultSet { .. } => {
                let _ = c.drain().await;
                Err(RecoveryError::Other(
                    "tombstone insert returned rows".into(),
                ))
            }
        }
    }

    /// Deletes old decisions no in-doubt branch needs.
    async fn sweep(&self, in_doubt: &HashSet<Xid>) {
        for (s, p) in sites(&self.shared) {
            let name = &self.shared.rules.schemas[s].name;
            let keep: Vec<&str> = in_doubt
                .iter()
                .filter(|x| {
                    x.coordinator()
                        .is_some_and(|c| &c.schema == name && c.place == p)
                })
                .map(|x| x.gtrid.as_str())
                .collect();
            let r = async {
                let mut c = conn(&self.shared, s, p).await?;
                c.query_drop(&sweep_sql(SWEEP_AGE_S, &keep))
                    .await
                    .map_err(|source| RecoveryError::Backend {
                        site: site_name(&self.shared, s, p),
                        source,
                    })
            };
            if let Err(e) = r.await {
                tracing::warn!(error = %e, "decision log sweep failed");
            }
        }
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Int(i) => Some(*i),
        Value::UInt(u) => i64::try_from(*u).ok(),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

/// (formatID, gtrid_length, bqual_length, data) -> our xid.
fn parse_recover_row(row: &[Value]) -> Option<Xid> {
    let data = match row.get(3)? {
        Value::Bytes(b) => b.as_slice(),
        _ => return None,
    };
    Xid::from_recover(
        int(row.first())?,
        usize::try_from(int(row.get(1))?).ok()?,
        usize::try_from(int(row.get(2))?).ok()?,
        data,
    )
}
