//! A client session's transaction: whether one is open and why, the backend
//! connection it holds on each shard it touched, how each branch started
//! (local or XA, see the module docs), its gtrid and its savepoints. The
//! session changes it only through these methods; committing or rolling
//! back what [`Transaction::end`] hands over is `coordinator`'s job.

use std::collections::BTreeMap;

use super::coordinator::Participant;
use super::xid::{new_gtrid, Site, Xid};
use super::{Branch, BranchKind};
use crate::backend::PooledConn;
use crate::rules::{Place, Rules};

/// Where a branch runs: (schema index, place).
pub type BranchKey = (usize, Place);

#[derive(Debug)]
pub struct Transaction {
    /// `SET autocommit`: off, every statement joins an open transaction.
    autocommit: bool,
    /// BEGIN / START TRANSACTION opened it.
    explicit: bool,
    /// START TRANSACTION READ ONLY.
    read_only: bool,
    /// An autocommit write on several shards runs as its own distributed
    /// transaction while it lasts.
    implicit: bool,
    /// Backend connections held for the transaction (a connection out
    /// running a statement is not here, its branch is).
    pinned: BTreeMap<BranchKey, PooledConn>,
    /// The branches started; one without a pinned connection lost it.
    branches: BTreeMap<BranchKey, Branch>,
    /// XA gtrid, made when the second branch starts.
    gtrid: Option<String>,
    /// Open savepoints, oldest first (replayed on branches started later).
    savepoints: Vec<String>,
    /// The running statement may change data (marks the branches it uses).
    stmt_writes: bool,
    /// A shard ended the transaction (deadlock, lost connection): roll back
    /// every branch once the statement's answer is written.
    abort_pending: bool,
}

/// What an ended transaction leaves to commit or roll back.
pub struct Ended {
    /// One per branch, with its connection when it still has one.
    pub participants: Vec<Participant>,
    /// Pinned connections without a branch (nothing to finish on them).
    pub idle: Vec<PooledConn>,
    pub gtrid: Option<String>,
}

impl Default for Transaction {
    fn default() -> Self {
        Transaction {
            autocommit: true,
            explicit: false,
            read_only: false,
            implicit: false,
            pinned: BTreeMap::new(),
            branches: BTreeMap::new(),
            gtrid: None,
            savepoints: Vec::new(),
            stmt_writes: false,
            abort_pending: false,
        }
    }
}

impl Transaction {
    /// Statements run inside a transaction (BEGIN, autocommit off, or an
    /// implicit one).
    pub fn is_open(&self) -> bool {
        self.explicit || !self.autocommit || self.implicit
    }

    pub fn autocommit(&self) -> bool {
        self.autocommit
    }

    pub fn set_autocommit(&mut self, on: bool) {
        self.autocommit = on;
    }

    pub fn is_implicit(&self) -> bool {
        self.implicit
    }

    /// The client sees a transaction (SERVER_STATUS_IN_TRANS): BEGIN, or
    /// autocommit off with a connection held.
    pub fn client_sees_open(&self) -> bool {
        self.explicit || (!self.autocommit && !self.pinned.is_empty())
    }

    /// BEGIN / START TRANSACTION [READ ONLY] (the caller ended an open one).
    pub fn begin(&mut self, read_only: bool) {
        self.explicit = true;
        self.read_only = read_only;
    }

    /// An autocommit write on several shards starts (true) or ends (false)
    /// its own transaction.
    pub fn set_implicit(&mut self, on: bool) {
        self.implicit = on;
    }

    /// A statement starts: whether it may change data.
    pub fn start_statement(&mut self, writes: bool) {
        self.stmt_writes = writes;
    }

    /// The pinned connection of `key`, taken out for a statement (its
    /// branch is marked written when the statement writes).
    pub fn take_pinned(&mut self, key: BranchKey) -> Option<PooledConn> {
        let conn = self.pinned.remove(&key)?;
        if let Some(b) = self.branches.get_mut(&key) {
            b.wrote |= self.stmt_writes;
        }
        Some(conn)
    }

    /// `key` has a branch but no connection: its earlier work went with it.
    pub fn lost_connection(&self, key: BranchKey) -> bool {
        self.is_open() && self.branches.contains_key(&key)
    }

    /// Keeps `conn` for the transaction, or gives it back when none is open.
    pub fn pin(&mut self, key: BranchKey, conn: PooledConn) -> Option<PooledConn> {
        if !self.is_open() {
            return Some(conn);
        }
        self.pinned.insert(key, conn);
        None
    }

    pub fn pinned_mut(&mut self, key: BranchKey) -> Option<&mut PooledConn> {
        self.pinned.get_mut(&key)
    }

    /// Every held connection (to run a SET or a savepoint statement on).
    pub fn pinned_all(&mut self) -> impl Iterator<Item = (BranchKey, &mut PooledConn)> {
        self.pinned.iter_mut().map(|(k, c)| (*k, c))
    }

    /// How the next branch starts: the first is local, later ones are XA
    /// branches of one gtrid coordinated by the first.
    pub fn next_branch(&mut self, rules: &Rules, key: BranchKey) -> BranchKind {
        if self.read_only {
            return BranchKind::ReadOnly;
        }
        let Some(&(cs, cp)) = self
            .branches
            .iter()
            .find(|(_, b)| b.kind == BranchKind::Local)
            .map(|(k, _)| k)
        else {
            return BranchKind::Local;
        };
        let gtrid = self.gtrid.get_or_insert_with(|| {
            new_gtrid(&Site {
                schema: rules.schemas[cs].name.clone(),
                place: cp,
            })
        });
        BranchKind::Xa(Xid::new(
            gtrid,
            &Site {
                schema: rules.schemas[key.0].name.clone(),
                place: key.1,
            },
        ))
    }

    /// A branch started on `key` (its connection is out with the statement).
    pub fn add_branch(&mut self, key: BranchKey, kind: BranchKind) {
        self.branches.insert(
            key,
            Branch {
                kind,
                wrote: self.stmt_writes,
            },
        );
    }

    pub fn savepoints(&self) -> &[String] {
        &self.savepoints
    }

    /// SAVEPOINT `name` was set on every branch (a savepoint of the same
    /// name moves to the end, as in MySQL).
    pub fn add_savepoint(&mut self, name: String) {
        self.savepoints.retain(|s| !s.eq_ignore_ascii_case(&name));
        self.savepoints.push(name);
    }

    /// Where the savepoint `name` is (None: not open).
    pub fn savepoint_pos(&self, name: &str) -> Option<usize> {
        self.savepoints
            .iter()
            .position(|s| s.eq_ignore_ascii_case(name))
    }

    /// ROLLBACK TO SAVEPOINT at `pos`: later savepoints are gone, this one stays.
    pub fn rolled_back_to(&mut self, pos: usize) {
        self.savepoints.truncate(pos + 1);
    }

    /// RELEASE SAVEPOINT at `pos`: it and later ones are gone.
    pub fn released(&mut self, pos: usize) {
        self.savepoints.truncate(pos);
    }

    /// A shard ended the transaction: roll it back after the answer.
    pub fn abort_after_statement(&mut self) {
        self.abort_pending = true;
    }

    /// Whether the statement asked for a rollback (asked once).
    pub fn take_abort(&mut self) -> bool {
        std::mem::take(&mut self.abort_pending)
    }

    /// Ends the transaction (autocommit stays as set): the branches to
    /// commit or roll back, named by `label`.
    pub fn end(&mut self, label: impl Fn(BranchKey) -> String) -> Ended {
        let mut pinned = std::mem::take(&mut self.pinned);
        let branches = std::mem::take(&mut self.branches);
        self.savepoints.clear();
        self.explicit = false;
        self.read_only = false;
        let participants = branches
            .into_iter()
            .map(|(key, b)| Participant {
                label: label(key),
                kind: b.kind,
                wrote: b.wrote,
                conn: pinned.remove(&key),
            })
            .collect();
        Ended {
            participants,
            idle: pinned.into_values().collect(),
            gtrid: self.gtrid.take(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_closed_and_savepoints() {
        let mut t = Transaction::default();
        assert!(!t.is_open() && !t.client_sees_open());
        t.set_autocommit(false);
        assert!(t.is_open() && !t.client_sees_open());
        t.set_autocommit(true);
        t.begin(false);
        assert!(t.is_open() && t.client_sees_open());
        for s in ["a", "b", "c"] {
            t.add_savepoint(s.into());
        }
        t.add_savepoint("A".into());
        assert_eq!(t.savepoints(), ["b", "c", "A"]);
        let pos = t.savepoint_pos("c").unwrap();
        t.rolled_back_to(pos);
        assert_eq!(t.savepoints(), ["b", "c"]);
        t.released(t.savepoint_pos("B").unwrap());
        assert!(t.savepoints().is_empty());
        t.add_savepoint("x".into());
        t.abort_after_statement();
        assert!(t.take_abort() && !t.take_abort());
        let ended = t.end(|_| String::new());
        assert!(ended.participants.is_empty() && ended.gtrid.is_none());
        assert!(!t.is_open() && t.savepoints().is_empty());
    }

    #[test]
    fn a_read_only_transaction_has_read_only_branches() {
        let rules = Rules::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/rules.toml"))
            .expect("rules");
        let mut t = Transaction::default();
        t.begin(true);
        assert_eq!(
            t.next_branch(&rules, (0, Place::Data(0))),
            BranchKind::ReadOnly
        );
        let mut t = Transaction::default();
        t.begin(false);
        t.start_statement(true);
        assert_eq!(
            t.next_branch(&rules, (0, Place::Data(0))),
            BranchKind::Local
        );
        t.add_branch((0, Place::Data(0)), BranchKind::Local);
        let BranchKind::Xa(x) = t.next_branch(&rules, (0, Place::Data(1))) else {
            panic!("second branch is XA")
        };
        // one gtrid for every later branch
        let BranchKind::Xa(y) = t.next_branch(&rules, (0, Place::Global)) else {
            panic!("third branch is XA")
        };
        assert_eq!(x.gtrid, y.gtrid);
        assert_ne!(x.bqual, y.bqual);
        let ended = t.end(|(s, p)| format!("{s}/{p:?}"));
        assert_eq!(ended.participants.len(), 1);
        assert!(ended.participants[0].wrote);
        assert_eq!(ended.gtrid.as_deref(), Some(x.gtrid.as_str()));
    }
}
