//! One poll over the sources: list, take the complete files, and for each
//! claim its job, apply from the checkpoint in chunks, answer, archive.

use std::collections::HashSet;
use std::time::Instant;

use haoka_core::auth::actor::Actor;
use haoka_core::auth::rbac;
use haoka_core::problem::ApiError;
use tracing::Instrument;

use crate::apply::{self, Ctx};
use crate::centers::Centers;
use crate::config::{BatchConfig, SourceConfig};
use crate::decode::{self, Table};
use crate::jobs::{self, ChunkTally, Claim, FileId, Job, Status};
use crate::kinds::naming::{self, FileName};
use crate::kinds::Outcome;
use crate::metrics::Metrics;
use crate::results::{self, Summary};
use crate::sources::ready::{Ready, Tracker};
use crate::sources::{Source, SourceError};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{0}")]
    Db(#[from] ApiError),
}

/// Tries per chunk: a chunk whose write meets a change made after its
/// check (a number another intake just took in) is checked again.
const CHUNK_TRIES: usize = 3;

pub struct Loader {
    pub state: Centers,
    pub cfg: BatchConfig,
    pub owner: String,
    pub metrics: Metrics,
    tracker: Tracker,
}

/// What became of a ready file in this poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Applied,
    AnsweredAgain,
    Failed,
    Busy,
}

impl Loader {
    pub fn new(state: Centers, cfg: BatchConfig, owner: String) -> Loader {
        Loader {
            state,
            cfg,
            owner,
            metrics: Metrics::new(),
            tracker: Tracker::default(),
        }
    }

    /// Lines per chunk: as configured, at most one intake call's worth.
    fn chunk_lines(&self) -> usize {
        let max = self
            .state
            .number
            .center
            .cfg
            .max_intake
            .min(self.state.card.center.cfg.max_intake);
        self.cfg.chunk_lines.clamp(1, max.max(1))
    }

    /// One poll of every source; returns what it did per file.
    pub async fn poll_once(&mut self) -> Vec<(String, Handled)> {
        let actor = match rbac::principal_of(&self.state, &self.cfg.staff_no, "haoka-batch").await {
            Ok(p) => Actor::Staff(p),
            Err(e) => {
                tracing::error!(staff_no = %self.cfg.staff_no, error = %e, "the loader account is unusable");
                return Vec::new();
            }
        };
        let mut done = Vec::new();
        for sc in self.cfg.sources.clone() {
            match self.poll_source(&sc, &actor).await {
                Ok(mut d) => done.append(&mut d),
                Err(e) => tracing::warn!(source = sc.name(), error = %e, "poll failed"),
            }
        }
        done
    }

    async fn poll_source(
        &mut self,
        sc: &SourceConfig,
        actor: &Actor,
    ) -> Result<Vec<(String, Handled)>, LoadError> {
        let src = Source::open(sc).await?;
        let listing = src.list().await?;
        let ready = self.tracker.ready(sc.name(), &listing);
        let mut done = Vec::new();
        for r in ready {
            let span = tracing::info_span!("file", source = sc.name(), file = %r.file.name);
            let h = self
                .handle(&src, sc.name(), &r, actor)
                .instrument(span)
                .await?;
            done.push((r.file.name.clone(), h));
        }
        Ok(done)
    }

    async fn handle(
        &self,
        src: &Source,
        source: &str,
        r: &Ready,
        actor: &Actor,
    ) -> Result<Handled, LoadError> {
        let t0 = Instant::now();
        let name = r.file.name.as_str();
        let bytes = src.read(name).await?;
        let sha = jobs::sha256_hex(&bytes);
        let parsed = naming::parse(name);
        let id = FileId {
            source,
            path: name,
            name,
            kind: parsed.as_ref().ok().map(|n| n.kind.prefix()),
            province: parsed.as_ref().ok().map(|n| n.province.as_str()),
            size: bytes.len() as u64,
            sha256: &sha,
        };
        let job =
            match jobs::claim(&self.state.db, &id, &self.owner, self.cfg.lease_seconds).await? {
                Claim::Busy => {
                    tracing::info!("another loader works this file");
                    return Ok(Handled::Busy);
                }
                Claim::Finished(job) => {
                    tracing::info!(
                        job_id = job.job_id,
                        "seen before: answering with the earlier result"
                    );
                    self.answer(src, &id, &bytes, &job, r.marker, true).await?;
                    return Ok(Handled::AnsweredAgain);
                }
                Claim::Mine(job) => job,
            };
        let outcome = match parsed.clone() {
            Err(e) => Err(format!("file name: {e}")),
            Ok(n) => match decode::decode(&bytes, n.format) {
                Err(e) => Err(e.to_string()),
                Ok(table) => match check_header(&n, &table) {
                    Err(e) => Err(e),
                    Ok(()) => Ok((n, table)),
                },
            },
        };
        let (n, table) = match outcome {
            Ok(x) => x,
            Err(why) => {
                tracing::warn!(job_id = job.job_id, reason = %why, "the file is unusable");
                let job = jobs::finish(
                    &self.state.db,
                    job.job_id,
                    &self.owner,
                    Status::Failed,
                    Some(&why),
                    &results::summary_name(naming::base_of(name)),
                )
                .await?;
                self.answer(src, &id, &bytes, &job, r.marker, false).await?;
                self.metrics.files.with_label_values(&["failed"]).inc();
                return Ok(Handled::Failed);
            }
        };
        let ctx = Ctx {
            state: &self.state,
            actor,
        };
        self.apply_rows(&ctx, &n, &table, &job).await?;
        let job = jobs::finish(
            &self.state.db,
            job.job_id,
            &self.owner,
            Status::Done,
            None,
            &results::result_name(&n.base),
        )
        .await?;
        self.answer(src, &id, &bytes, &job, r.marker, false).await?;
        self.metrics.files.with_label_values(&["done"]).inc();
        self.metrics.lag_seconds.set(t0.elapsed().as_secs_f64());
        tracing::info!(
            job_id = job.job_id,
            ok = job.ok,
            refused = job.refused,
            invalid = job.invalid,
            "file answered"
        );
        Ok(Handled::Applied)
    }

    /// Applies the rows after the job's checkpoint, chunk by chunk.
    async fn apply_rows(
        &self,
        ctx: &Ctx<'_>,
        n: &FileName,
        table: &Table,
        job: &Job,
    ) -> Result<(), LoadError> {
        let total = table.rows.len();
        // Duplicates in the file are judged against every earlier row,
        // committed before a restart or not.
        let mut seen: HashSet<String> = table.rows[..job.checkpoint.min(total)]
            .iter()
            .filter_map(|r| apply::key_of(r).map(str::to_string))
            .collect();
        if job.checkpoint > 0 {
            tracing::info!(job_id = job.job_id, checkpoint = job.checkpoint, "resuming");
        }
        let size = self.chunk_lines();
        let mut at = job.checkpoint;
        while at < total {
            let end = (at + size).min(total);
            let rows = &table.rows[at..end];
            let t = Instant::now();
            let prepared = self
                .apply_chunk(ctx, n, rows, &seen, job.job_id, at, end, total)
                .await?;
            let secs = t.elapsed().as_secs_f64().max(1e-6);
            self.metrics.rows_per_second.set(rows.len() as f64 / secs);
            for o in [Outcome::Ok, Outcome::Refused, Outcome::Invalid] {
                let c = if o == Outcome::Ok {
                    prepared.ok
                } else {
                    prepared.count(o)
                };
                self.metrics
                    .lines
                    .with_label_values(&[n.kind.prefix(), o.name()])
                    .inc_by(c);
            }
            seen.extend(prepared.keys);
            at = end;
        }
        Ok(())
    }

    /// Checks and writes one chunk with its checkpoint, again if its write
    /// met a change made after the check.
    #[allow(clippy::too_many_arguments)]
    async fn apply_chunk(
        &self,
        ctx: &Ctx<'_>,
        n: &FileName,
        rows: &[decode::Row],
        seen: &HashSet<String>,
        job_id: i64,
        from: usize,
        to: usize,
        total: usize,
    ) -> Result<apply::Prepared, LoadError> {
        let mut last = None;
        for _ in 0..CHUNK_TRIES {
            let mut p = apply::prepare(n, ctx, rows, seen).await?;
            let mut tx = self.state.db.begin().await?;
            let wrote = async {
                let shelves = apply::write(&mut tx, ctx, &mut p).await?;
                let tally = ChunkTally {
                    ok: p.ok,
                    refused: p.count(Outcome::Refused),
                    invalid: p.count(Outcome::Invalid),
                };
                jobs::commit_chunk(
                    &mut tx,
                    job_id,
                    &self.owner,
                    self.cfg.lease_seconds,
                    from,
                    to,
                    total,
                    &tally,
                    &p.lines,
                )
                .await?;
                Ok::<_, ApiError>(shelves)
            }
            .await;
            match wrote {
                Ok(shelves) => {
                    // Wakes the outbox relay: status changes carry events.
                    self.state.outbox.commit(tx).await.map_err(ApiError::from)?;
                    self.state.number.center.announce(shelves);
                    return Ok(p);
                }
                // A lost lease is final: another loader has the file now.
                Err(e @ ApiError::Conflict(_)) => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(job_id, from, error = %e, "chunk write failed; checking again");
                    drop(tx); // rolls back
                    last = Some(e);
                }
            }
        }
        Err(last
            .unwrap_or_else(|| ApiError::Internal("chunk failed".into()))
            .into())
    }

    /// Writes the result and summary files and moves the input away.
    async fn answer(
        &self,
        src: &Source,
        id: &FileId<'_>,
        bytes: &[u8],
        job: &Job,
        marker: bool,
        again: bool,
    ) -> Result<(), LoadError> {
        let base = naming::base_of(id.name);
        let mut encoding = None;
        if job.status == Status::Done {
            let n = naming::parse(id.name).map_err(|e| ApiError::Internal(e.to_string()))?;
            let table =
                decode::decode(bytes, n.format).map_err(|e| ApiError::Internal(e.to_string()))?;
            encoding = Some(table.encoding);
            let lines = jobs::lines(&self.state.db, job.job_id).await?;
            src.put_result(
                &results::result_name(base),
                &results::result_csv(&table.rows, &lines),
            )
            .await?;
        }
        let summary = Summary {
            file: id.name,
            source: id.source,
            job_id: job.job_id,
            kind: id.kind,
            status: job.status.code(),
            encoding,
            total: job.ok + job.refused + job.invalid,
            ok: job.ok,
            refused: job.refused,
            invalid: job.invalid,
            started: &job.started_at,
            finished: job.finished_at.as_deref(),
            sha256: id.sha256,
            failure: job.failure.as_deref(),
            answered_again: again,
        };
        src.put_result(&results::summary_name(base), &summary.to_json())
            .await?;
        src.archive(id.name, job.status == Status::Failed, marker)
            .await?;
        Ok(())
    }
}

fn check_header(n: &FileName, t: &Table) -> Result<(), String> {
    let want = n.kind.header();
    let got: Vec<String> = t
        .header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if got != want {
        return Err(format!(
            "bad header: {} files have {}, this one {}",
            n.kind.prefix(),
            want.join(","),
            got.join(",")
        ));
    }
    Ok(())
}
