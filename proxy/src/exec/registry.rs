//! The proxy's client sessions, by the id their handshake gave them: what
//! `SHOW PROCESSLIST` lists and what `KILL [QUERY] <id>` acts on. Each entry
//! knows the backend connections its running statement uses, so a KILL
//! QUERY (or the client disconnecting mid-statement) cancels it on every
//! shard. Client ids are the proxy's own; no client ever names a backend
//! thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

use crate::backend::Canceller;

/// The longest statement text kept for SHOW PROCESSLIST.
const INFO_MAX: usize = 1024;

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<u32, Arc<SessionEntry>>>,
}

impl Sessions {
    pub fn register(&self, entry: Arc<SessionEntry>) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(entry.id, entry);
        }
    }

    pub fn remove(&self, id: u32) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(&id);
        }
    }

    pub fn get(&self, id: u32) -> Option<Arc<SessionEntry>> {
        self.map.lock().ok()?.get(&id).cloned()
    }

    /// Every session, by id.
    pub fn all(&self) -> Vec<Arc<SessionEntry>> {
        let mut v: Vec<_> = self
            .map
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by_key(|e| e.id);
        v
    }
}

/// One client session as other sessions see it.
pub struct SessionEntry {
    pub id: u32,
    pub user: String,
    pub host: String,
    state: Mutex<EntryState>,
    ended: watch::Sender<bool>,
    /// KILL QUERY hit the running command.
    interrupted: AtomicBool,
}

struct EntryState {
    db: String,
    command: &'static str,
    since: Instant,
    info: Option<String>,
    /// Backend connections the running statement has checked out.
    running: Vec<Canceller>,
}

/// One row of SHOW PROCESSLIST.
pub struct ProcessRow {
    pub id: u32,
    pub user: String,
    pub host: String,
    pub db: String,
    pub command: &'static str,
    pub time_s: u64,
    pub state: &'static str,
    pub info: Option<String>,
}

impl SessionEntry {
    pub fn new(id: u32, user: &str, host: &str, db: &str) -> Arc<SessionEntry> {
        Arc::new(SessionEntry {
            id,
            user: user.to_string(),
            host: host.to_string(),
            state: Mutex::new(EntryState {
                db: db.to_string(),
                command: "Sleep",
                since: Instant::now(),
                info: None,
                running: Vec::new(),
            }),
            ended: watch::channel(false).0,
            interrupted: AtomicBool::new(false),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut EntryState) -> T) -> Option<T> {
        self.state.lock().ok().map(|mut s| f(&mut s))
    }

    /// A command starts (`info`: its statement text, if any).
    pub fn begin(&self, command: &'static str, info: Option<&str>) {
        self.interrupted.store(false, Ordering::Relaxed);
        self.with(|s| {
            s.command = command;
            s.since = Instant::now();
            s.info = info.map(|i| match i.char_indices().nth(INFO_MAX) {
                Some((cut, _)) => i[..cut].to_string(),
                None => i.to_string(),
            });
        });
    }

    /// The command is done: the session sleeps and uses no connection.
    pub fn end(&self) {
        self.with(|s| {
            s.command = "Sleep";
            s.since = Instant::now();
            s.info = None;
            s.running.clear();
        });
    }

    pub fn set_db(&self, db: &str) {
        self.with(|s| s.db = db.to_string());
    }

    pub fn uses(&self, c: Canceller) {
        self.with(|s| s.running.push(c));
    }

    pub fn released(&self, thread_id: u32) {
        self.with(|s| s.running.retain(|c| c.thread_id() != thread_id));
    }

    /// KILL QUERY: cancels the running statement on every backend connection it uses.
    pub async fn kill_query(&self) {
        self.interrupted.store(true, Ordering::Relaxed);
        let running = self.with(|s| s.running.clone()).unwrap_or_default();
        for c in running {
            c.cancel().await;
        }
    }

    /// Was the running command cancelled by KILL QUERY (so a shard's failure
    /// mid-result is that)?
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    /// KILL CONNECTION: cancels the statement and ends the session.
    pub async fn kill_connection(&self) {
        self.ended.send_replace(true);
        self.kill_query().await;
    }

    /// Becomes true when the session was killed.
    pub fn ended(&self) -> watch::Receiver<bool> {
        self.ended.subscribe()
    }

    pub fn row(&self) -> Option<ProcessRow> {
        self.with(|s| ProcessRow {
            id: self.id,
            user: self.user.clone(),
            host: self.host.clone(),
            db: s.db.clone(),
            command: s.command,
            time_s: s.since.elapsed().as_secs(),
            state: if s.command == "Sleep" {
                ""
            } else {
                "executing"
            },
            info: s.info.clone(),
        })
    }
}
