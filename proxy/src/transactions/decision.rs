//! The decision log: table `haoka_xa_decision` on every shard (any shard can
//! coordinate: the coordinator is the transaction's first, local branch).
//!
//! A row `(gtrid, 'commit')` is inserted inside the coordinator's local
//! transaction, so it becomes durable exactly when that branch commits.
//! Recovery decides a transaction it finds in doubt by inserting
//! `(gtrid, 'abort')`: the primary key makes the two exclusive — if the
//! coordinator's commit is in flight, the tombstone waits on its row lock
//! and then fails with a duplicate key, so a peer can never roll back a
//! transaction that is committing (and a coordinator whose decision insert
//! hits a tombstone rolls back).
//!
//! The ids in the SQL below are proxy-made (`Xid` accepts only
//! `[A-Za-z0-9_.@-]`): these statements ride in the same round trip as the
//! COMMIT, which a prepared statement could not.

/// Created by the proxy at start on every place of every schema.
pub const DDL: &str = "CREATE TABLE IF NOT EXISTS haoka_xa_decision (\
  gtrid VARCHAR(64) NOT NULL COMMENT 'XA gtrid coordinated on this shard', \
  outcome ENUM('commit','abort') NOT NULL, \
  decided_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), \
  PRIMARY KEY (gtrid), KEY by_time (decided_at)\
) ENGINE=InnoDB DEFAULT CHARSET=ascii COMMENT='haoka-proxy XA decision log'";

/// How a distributed transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Commit,
    Abort,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Outcome::Commit => "commit",
            Outcome::Abort => "abort",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "commit" => Some(Outcome::Commit),
            "abort" => Some(Outcome::Abort),
            _ => None,
        }
    }
}

/// The insert that records `outcome` for `gtrid`.
pub fn record_sql(gtrid: &str, outcome: Outcome) -> String {
    format!(
        "INSERT INTO haoka_xa_decision (gtrid, outcome) VALUES ('{gtrid}', '{}')",
        outcome.word()
    )
}

/// A recovery tombstone: waits at most `lock_wait_s` for an in-flight
/// coordinator commit.
pub fn tombstone_sql(gtrid: &str, lock_wait_s: u32) -> String {
    format!(
        "SET STATEMENT innodb_lock_wait_timeout = {lock_wait_s} FOR {}",
        record_sql(gtrid, Outcome::Abort)
    )
}

pub fn lookup_sql(gtrid: &str) -> String {
    format!("SELECT outcome FROM haoka_xa_decision WHERE gtrid = '{gtrid}'")
}

/// Deletes decisions older than `age_s` seconds except those of `in_doubt`
/// (still needed by prepared branches).
pub fn sweep_sql(age_s: u32, in_doubt: &[&str]) -> String {
    let mut sql = format!(
        "DELETE FROM haoka_xa_decision WHERE decided_at < NOW(3) - INTERVAL {age_s} SECOND"
    );
    if !in_doubt.is_empty() {
        let list: Vec<String> = in_doubt.iter().map(|g| format!("'{g}'")).collect();
        sql.push_str(&format!(" AND gtrid NOT IN ({})", list.join(", ")));
    }
    sql
}
