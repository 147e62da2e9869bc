//! The job row per file: its idempotency key (source + path + size +
//! sha256), a lease so one loader at a time works it, and the checkpoint
//! (data rows committed) that moves in the same transaction as each chunk's
//! changes — so after a SIGKILL the next owner resumes exactly there.

/// The batch tables' start-up migration (shared with haoka-server).
pub use haoka_batch_api::migrate;

use haoka_core::db::Db;
use haoka_core::problem::ApiError;
use haoka_core::time::Timestamp;
use mysql_async::prelude::Queryable;
use mysql_async::{Row, Transaction, Value};
use sha2::{Digest, Sha256};

use crate::kinds::{LineResult, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    Done,
    Failed,
}

impl Status {
    pub fn code(self) -> &'static str {
        match self {
            Status::Running => "R",
            Status::Done => "D",
            Status::Failed => "F",
        }
    }
    fn from_code(s: &str) -> Status {
        match s {
            "D" => Status::Done,
            "F" => Status::Failed,
            _ => Status::Running,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Job {
    pub job_id: i64,
    pub status: Status,
    pub checkpoint: usize,
    pub ok: u64,
    pub refused: u64,
    pub invalid: u64,
    pub failure: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// What a file's job row says when the loader meets the file.
#[derive(Debug)]
pub enum Claim {
    /// This loader holds the lease: apply from `checkpoint` on.
    Mine(Job),
    /// Finished (done or failed) and this loader holds the lease to answer
    /// it: `again` when it was answered before (the same file dropped
    /// again), not when the answer of its last owner was cut short.
    Finished { job: Job, again: bool },
    /// Another loader holds it (working it, or writing its answer).
    Busy,
}
/// Who the file is.
pub struct FileId<'a> {
    pub source: &'a str,
    pub path: &'a str,
    pub name: &'a str,
    pub kind: Option<&'a str>,
    pub province: Option<&'a str>,
    pub size: u64,
    pub sha256: &'a str,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl FileId<'_> {
    pub fn key(&self) -> String {
        sha256_hex(
            format!(
                "{}\n{}\n{}\n{}",
                self.source, self.path, self.size, self.sha256
            )
            .as_bytes(),
        )
    }
}

const COLUMNS: &str = concat!(
    "job_id, status, checkpoint, ok_count, refused_count, invalid_count, failure, ",
    haoka_core::ts_col!("started_at"),
    ", ",
    haoka_core::ts_col!("finished_at")
);

fn job_of(r: &Row) -> Job {
    use haoka_core::db::col;
    Job {
        job_id: col(r, 0),
        status: Status::from_code(&col::<String>(r, 1)),
        checkpoint: col::<i64>(r, 2) as usize,
        ok: col::<i64>(r, 3) as u64,
        refused: col::<i64>(r, 4) as u64,
        invalid: col::<i64>(r, 5) as u64,
        failure: col(r, 6),
        started_at: col(r, 7),
        finished_at: col(r, 8),
    }
}

/// Finds or creates the job and takes its lease if it is free. A finished
/// job keeps its lease until its answer is written (`release`), so a second
/// loader that lists the file meanwhile leaves it alone.
pub async fn claim(db: &Db, f: &FileId<'_>, owner: &str, lease_s: u32) -> Result<Claim, ApiError> {
    let key = f.key();
    let mut c = db.conn().await?;
    c.exec_drop(
        "INSERT IGNORE INTO batch_job (job_key, source, path, file_name, kind, province_code, \
         size_bytes, sha256, owner, lease_until) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(3) + INTERVAL ? SECOND)",
        (
            &key, f.source, f.path, f.name, f.kind, f.province, f.size, f.sha256, owner, lease_s,
        ),
    )
    .await?;
    let released: Option<i64> = c
        .exec_first(
            "SELECT owner IS NULL FROM batch_job WHERE job_key = ?",
            (&key,),
        )
        .await?;
    c.exec_drop(
        "UPDATE batch_job SET owner = ?, lease_until = NOW(3) + INTERVAL ? SECOND \
         WHERE job_key = ? AND (owner IS NULL OR owner = ? OR lease_until < NOW(3))",
        (owner, lease_s, &key, owner),
    )
    .await?;
    let mine = c.affected_rows() == 1;
    let row: Row = c
        .exec_first(
            format!("SELECT {COLUMNS} FROM batch_job WHERE job_key = ?"),
            (&key,),
        )
        .await?
        .ok_or_else(|| ApiError::Internal("the batch job row vanished".into()))?;
    let job = job_of(&row);
    Ok(match (job.status, mine) {
        (_, false) => Claim::Busy,
        (Status::Running, true) => Claim::Mine(job),
        (Status::Done | Status::Failed, true) => Claim::Finished {
            job,
            again: released == Some(1),
        },
    })
}

/// Frees the lease once the job's answer is written.
pub async fn release(db: &Db, job_id: i64, owner: &str) -> Result<(), ApiError> {
    let mut c = db.conn().await?;
    c.exec_drop(
        "UPDATE batch_job SET owner = NULL, lease_until = NULL WHERE job_id = ? AND owner = ?",
        (job_id, owner),
    )
    .await?;
    Ok(())
}

/// What one chunk adds to the job.
#[derive(Debug, Default)]
pub struct ChunkTally {
    pub ok: u64,
    pub refused: u64,
    pub invalid: u64,
}

/// Moves the checkpoint from `from` to `to` on the chunk's transaction and
/// stores its refused lines; fails (and the chunk rolls back) when the
/// lease was lost or another loader moved the checkpoint meanwhile.
#[allow(clippy::too_many_arguments)]
pub async fn commit_chunk(
    tx: &mut Transaction<'_>,
    job_id: i64,
    owner: &str,
    lease_s: u32,
    from: usize,
    to: usize,
    total: usize,
    tally: &ChunkTally,
    lines: &[LineResult],
) -> Result<(), ApiError> {
    tx.exec_drop(
        "UPDATE batch_job SET checkpoint = ?, total_lines = ?, ok_count = ok_count + ?, \
         refused_count = refused_count + ?, invalid_count = invalid_count + ?, \
         lease_until = NOW(3) + INTERVAL ? SECOND \
         WHERE job_id = ? AND owner = ? AND checkpoint = ? AND status = 'R'",
        (
            to as i64,
            total as i64,
            tally.ok,
            tally.refused,
            tally.invalid,
            lease_s,
            job_id,
            owner,
            from as i64,
        ),
    )
    .await?;
    if tx.affected_rows() != 1 {
        return Err(ApiError::Conflict(format!(
            "batch job {job_id}: the lease was lost or the checkpoint moved"
        )));
    }
    for chunk in lines.chunks(500) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 6);
        for l in chunk {
            params.extend([
                Value::from(job_id),
                Value::from(l.line_no),
                Value::from(truncate(&l.key, 64)),
                Value::from(l.outcome.name()),
                Value::from(truncate(&l.code, 48)),
                Value::from(truncate(&l.reason, 500)),
            ]);
        }
        tx.exec_drop(
            format!(
                "INSERT INTO batch_line (job_id, line_no, item_key, outcome, code, reason) VALUES {}",
                vec!["(?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ")
            ),
            params,
        )
        .await?;
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Ends the job (done, or failed with why), with its final line count; the
/// lease is kept for writing the answer (`release` frees it).
pub async fn finish(
    db: &Db,
    job_id: i64,
    owner: &str,
    status: Status,
    failure: Option<&str>,
    result_path: &str,
    total_lines: Option<u64>,
) -> Result<Job, ApiError> {
    let mut c = db.conn().await?;
    c.exec_drop(
        "UPDATE batch_job SET status = ?, failure = ?, result_path = ?, finished_at = NOW(3), \
         total_lines = COALESCE(?, total_lines) \
         WHERE job_id = ? AND owner = ? AND status = 'R'",
        (
            status.code(),
            failure,
            result_path,
            total_lines,
            job_id,
            owner,
        ),
    )
    .await?;
    let row: Row = c
        .exec_first(
            format!("SELECT {COLUMNS} FROM batch_job WHERE job_id = ?"),
            (job_id,),
        )
        .await?
        .ok_or_else(|| ApiError::Internal("the batch job row vanished".into()))?;
    Ok(job_of(&row))
}

/// A job's refused and invalid lines in line order, fetched a page at a
/// time (a bad file can have as many as it has lines).
pub struct LinePages {
    job_id: i64,
    after: u32,
    page: std::collections::VecDeque<LineResult>,
    exhausted: bool,
}

const LINE_PAGE: usize = 5000;

impl LinePages {
    pub fn new(job_id: i64) -> LinePages {
        LinePages {
            job_id,
            after: 0,
            page: Default::default(),
            exhausted: false,
        }
    }

    /// The result of line `line_no`, if the job holds one; lines must be
    /// asked in increasing order.
    pub async fn get(&mut self, db: &Db, line_no: u32) -> Result<Option<LineResult>, ApiError> {
        loop {
            while let Some(l) = self.page.front() {
                if l.line_no > line_no {
                    return Ok(None);
                }
                let l = self.page.pop_front();
                if l.as_ref().is_some_and(|l| l.line_no == line_no) {
                    return Ok(l);
                }
            }
            if self.exhausted {
                return Ok(None);
            }
            self.fetch(db).await?;
        }
    }

    async fn fetch(&mut self, db: &Db) -> Result<(), ApiError> {
        let mut c = db.conn().await?;
        let rows: Vec<(u32, String, String, String, String)> = c
            .exec(
                "SELECT line_no, item_key, outcome, code, reason FROM batch_line \
                 WHERE job_id = ? AND line_no > ? ORDER BY line_no LIMIT ?",
                (self.job_id, self.after, LINE_PAGE as u64),
            )
            .await?;
        self.exhausted = rows.len() < LINE_PAGE;
        if let Some(last) = rows.last() {
            self.after = last.0;
        }
        self.page.extend(
            rows.into_iter()
                .map(|(line_no, key, outcome, code, reason)| LineResult {
                    line_no,
                    key,
                    outcome: Outcome::from_name(&outcome),
                    code,
                    reason,
                }),
        );
        Ok(())
    }
}
