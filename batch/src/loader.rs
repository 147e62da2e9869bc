//! One poll over the sources: list, take the complete files, and for each
//! claim its job, apply from the checkpoint in chunks, answer, archive.

use std::time::Instant;

use haoka_core::auth::actor::Actor;
use haoka_core::auth::rbac;
use haoka_core::problem::ApiError;
use tracing::Instrument;

use crate::apply::{self, Ctx};
use crate::centers::Centers;
use crate::config::{BatchConfig, SourceConfig};
use crate::decode::{self, Encoding};
use crate::jobs::{self, ChunkTally, Claim, FileId, Job, Status};
use crate::kinds::naming::{self, FileName, Format};
use crate::kinds::Outcome;
use crate::metrics::Metrics;
use crate::results::{self, Summary};
use crate::seen::{Earlier, Seen};
use crate::sources::ready::{Ready, Tracker};
use crate::sources::{Source, SourceError};
use crate::stream::{self, ReadError, Rows, Scan};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{0}")]
    Db(#[from] ApiError),
    #[error(transparent)]
    Read(#[from] ReadError),
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

/// A chunk's place in its job: its lines and the file's (for progress).
struct Span {
    job_id: i64,
    from: usize,
    to: usize,
    total: usize,
}

/// A chunk written up to its commit: its transaction holds the job row
/// (and the chunk's rows) until [`Loader::finish`] commits it.
struct Written {
    tx: mysql_async::Transaction<'static>,
    p: apply::Prepared,
    shelves: std::collections::HashSet<haoka_number::shelf_cache::ShelfKey>,
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
            // One file's trouble (another loader archived it meanwhile, a
            // lost connection) does not hold up the others; its job resumes
            // at its checkpoint at a later poll.
            match self
                .handle(&src, sc.name(), &r, actor)
                .instrument(span)
                .await
            {
                Ok(h) => done.push((r.file.name.clone(), h)),
                Err(e) => tracing::warn!(
                    source = sc.name(),
                    file = %r.file.name,
                    error = %e,
                    "file not finished this poll"
                ),
            }
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
        let parsed = naming::parse(name);
        let text = !matches!(&parsed, Ok(n) if n.format == Format::Xlsx);
        // First pass: the idempotency key needs the content's sha256.
        let scan = stream::scan(&mut src.open_read(name).await?, text).await?;
        let id = FileId {
            source,
            path: name,
            name,
            kind: parsed.as_ref().ok().map(|n| n.kind.prefix()),
            province: parsed.as_ref().ok().map(|n| n.province.as_str()),
            size: scan.size,
            sha256: &scan.sha256,
        };
        let file = File {
            id: &id,
            scan: &scan,
            marker: r.marker,
        };
        let job =
            match jobs::claim(&self.state.db, &id, &self.owner, self.cfg.lease_seconds).await? {
                Claim::Busy => {
                    tracing::info!("another loader works this file");
                    return Ok(Handled::Busy);
                }
                Claim::Finished { job, again } => {
                    if again {
                        tracing::info!(
                            job_id = job.job_id,
                            "seen before: answering with the earlier result"
                        );
                    } else {
                        tracing::info!(job_id = job.job_id, "finishing a cut-short answer");
                    }
                    self.answer(src, &file, &job, again).await?;
                    return Ok(if again {
                        Handled::AnsweredAgain
                    } else {
                        Handled::Applied
                    });
                }
                Claim::Mine(job) => job,
            };
        let n = match parsed.clone() {
            Ok(n) => n,
            Err(e) => return self.fail(src, &file, &job, format!("file name: {e}")).await,
        };
        let encoding = match (n.format, scan.encoding) {
            (Format::Csv, None) => {
                let why = decode::DecodeError::Encoding.to_string();
                return self.fail(src, &file, &job, why).await;
            }
            (Format::Csv, Some(e)) => e,
            (Format::Xlsx, _) => Encoding::Utf8,
        };
        let mut rows = Rows::open(src, name, n.format, encoding).await?;
        let header = match rows.header().await {
            Ok(Some(h)) => h,
            Ok(None) => {
                let why = decode::DecodeError::Empty.to_string();
                return self.fail(src, &file, &job, why).await;
            }
            Err(ReadError::Decode(e)) => return self.fail(src, &file, &job, e.to_string()).await,
            Err(ReadError::Source(e)) => return Err(e.into()),
        };
        if let Err(why) = check_header(&n, &header) {
            return self.fail(src, &file, &job, why).await;
        }
        let ctx = Ctx {
            state: &self.state,
            actor,
        };
        // Data lines, for progress: a CSV's lines less the header (blank
        // ones count until the end says better); an XLSX is parsed by now.
        let estimate = match n.format {
            Format::Csv => scan.lines.saturating_sub(1) as usize,
            Format::Xlsx => rows.buffered(),
        };
        let total = self.apply_rows(&ctx, &n, &mut rows, &job, estimate).await?;
        drop(rows);
        let job = jobs::finish(
            &self.state.db,
            job.job_id,
            &self.owner,
            Status::Done,
            None,
            &results::result_name(&n.base),
            Some(total as u64),
        )
        .await?;
        self.answer(src, &file, &job, false).await?;
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

    /// The file as a whole is unusable: the job fails with why, the file
    /// gets its summary and goes to failed/.
    async fn fail(
        &self,
        src: &Source,
        file: &File<'_>,
        job: &Job,
        why: String,
    ) -> Result<Handled, LoadError> {
        tracing::warn!(job_id = job.job_id, reason = %why, "the file is unusable");
        let job = jobs::finish(
            &self.state.db,
            job.job_id,
            &self.owner,
            Status::Failed,
            Some(&why),
            &results::summary_name(naming::base_of(file.id.name)),
            None,
        )
        .await?;
        self.answer(src, file, &job, false).await?;
        self.metrics.files.with_label_values(&["failed"]).inc();
        Ok(Handled::Failed)
    }

    /// Applies the rows after the job's checkpoint, chunk by chunk, as they
    /// are read; returns the file's data lines. Three chunks are in flight
    /// at once, each on its own connection: one commits, the next is
    /// written (its job-row UPDATE waits for the commit before it, so the
    /// checkpoint moves in file order and a chunk whose predecessor failed
    /// finds the checkpoint not where it expects and is refused), and the
    /// one after is read and checked (reads only; a line listed twice is
    /// told by the keys of every earlier line, committed or not). Any
    /// failure ends the pass: what did not commit rolls back, and the job
    /// resumes at its checkpoint.
    async fn apply_rows(
        &self,
        ctx: &Ctx<'_>,
        n: &FileName,
        rows: &mut Rows,
        job: &Job,
        estimate: usize,
    ) -> Result<usize, LoadError> {
        let size = self.chunk_lines();
        // Keys of every line before `chunk` (committed, written or, after a
        // restart, skipped): duplicates in the file are judged against them.
        let mut seen = Seen::default();
        let mut at = 0;
        if job.checkpoint > 0 {
            tracing::info!(job_id = job.job_id, checkpoint = job.checkpoint, "resuming");
        }
        while at < job.checkpoint {
            let skipped = rows.next_chunk(size.min(job.checkpoint - at)).await?;
            if skipped.is_empty() {
                break;
            }
            at += skipped.len();
            seen.extend(skipped.iter().filter_map(apply::key_of));
        }
        let mut chunk = rows.next_chunk(size).await?;
        // The chunk's check, made while the chunks before were in flight.
        let mut checked: Option<apply::Prepared> = None;
        // The chunk before, written and not yet committed.
        let mut open: Option<Written> = None;
        while !chunk.is_empty() {
            let end = at + chunk.len();
            let next = rows.next_chunk(size).await?;
            let mut in_flight = Seen::default();
            in_flight.extend(chunk.iter().filter_map(apply::key_of));
            let t = Instant::now();
            let span = Span {
                job_id: job.job_id,
                from: at,
                to: end,
                total: estimate.max(end),
            };
            let commit_before = async {
                match open.take() {
                    Some(w) => self.finish(w).await.map(Some),
                    None => Ok(None),
                }
            };
            let check_next = async {
                if next.is_empty() {
                    return None;
                }
                let t = Instant::now();
                let earlier = Earlier::with_in_flight(&seen, &in_flight);
                match apply::prepare(n, ctx, &next, &earlier).await {
                    Ok(p) => {
                        self.observe("check", t);
                        Some(p)
                    }
                    // Checked again in its turn (and failing there if it must).
                    Err(e) => {
                        tracing::warn!(job_id = job.job_id, from = end, error = %e, "checking ahead failed");
                        None
                    }
                }
            };
            let (committed, written, ahead) = tokio::join!(
                commit_before,
                self.write_chunk(ctx, n, &chunk, checked.take(), &seen, &span),
                check_next
            );
            // The commit's own failure first: the write after it is then
            // refused only because the checkpoint did not move.
            if let Some(p) = committed? {
                self.count_lines(n, &p);
            }
            let written = written?;
            self.metrics
                .rows_per_second
                .set(chunk.len() as f64 / t.elapsed().as_secs_f64().max(1e-6));
            seen.absorb(in_flight);
            open = Some(written);
            at = end;
            chunk = next;
            checked = ahead;
        }
        if let Some(w) = open.take() {
            let p = self.finish(w).await?;
            self.count_lines(n, &p);
        }
        Ok(at)
    }

    fn count_lines(&self, n: &FileName, p: &apply::Prepared) {
        for o in [Outcome::Ok, Outcome::Refused, Outcome::Invalid] {
            let c = if o == Outcome::Ok { p.ok } else { p.count(o) };
            self.metrics
                .lines
                .with_label_values(&[n.kind.prefix(), o.name()])
                .inc_by(c);
        }
    }

    fn observe(&self, phase: &str, since: Instant) {
        self.metrics
            .chunk_seconds
            .with_label_values(&[phase])
            .observe(since.elapsed().as_secs_f64());
    }

    /// Writes one chunk with its checkpoint (checked before, or checked
    /// here) on a transaction left open for [`Loader::finish`], checking
    /// and writing again if its write met a change made after the check.
    async fn write_chunk(
        &self,
        ctx: &Ctx<'_>,
        n: &FileName,
        rows: &[decode::Row],
        checked: Option<apply::Prepared>,
        seen: &Seen,
        span: &Span,
    ) -> Result<Written, LoadError> {
        let job_id = span.job_id;
        let mut last = None;
        let mut checked = checked;
        for _ in 0..CHUNK_TRIES {
            let mut p = match checked.take() {
                Some(p) => p,
                None => {
                    let t = Instant::now();
                    let p = apply::prepare(n, ctx, rows, &Earlier::applied(seen)).await?;
                    self.observe("check", t);
                    p
                }
            };
            let started = Instant::now();
            let mut tx = self.state.db.begin().await?;
            let wrote = async {
                let shelves = apply::write(&mut tx, ctx, &mut p).await?;
                self.observe("write", started);
                let tally = ChunkTally {
                    ok: p.ok,
                    refused: p.count(Outcome::Refused),
                    invalid: p.count(Outcome::Invalid),
                };
                let t = Instant::now();
                // Waits here for the chunk before to commit (its row lock).
                jobs::commit_chunk(
                    &mut tx,
                    job_id,
                    &self.owner,
                    self.cfg.lease_seconds,
                    span.from,
                    span.to,
                    span.total,
                    &tally,
                    &p.lines,
                )
                .await?;
                self.observe("checkpoint", t);
                Ok::<_, ApiError>(shelves)
            }
            .await;
            match wrote {
                Ok(shelves) => return Ok(Written { tx, p, shelves }),
                // A lost lease (or a checkpoint the chunk before did not
                // move) is final: the job resumes at its checkpoint.
                Err(e @ ApiError::Conflict(_)) => return Err(e.into()),
                Err(e) => {
                    let from = span.from;
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

    /// Commits a written chunk and announces its shelves.
    async fn finish(&self, w: Written) -> Result<apply::Prepared, LoadError> {
        let t = Instant::now();
        // Wakes the outbox relay: the chunk's rows carry events.
        self.state
            .outbox
            .commit(w.tx)
            .await
            .map_err(ApiError::from)?;
        self.observe("commit", t);
        self.state.number.center.announce(w.shelves);
        Ok(w.p)
    }

    /// Writes the result and summary files and moves the input away.
    async fn answer(
        &self,
        src: &Source,
        file: &File<'_>,
        job: &Job,
        again: bool,
    ) -> Result<(), LoadError> {
        let id = file.id;
        let base = naming::base_of(id.name);
        let mut encoding = None;
        if job.status == Status::Done {
            let n = naming::parse(id.name).map_err(|e| ApiError::Internal(e.to_string()))?;
            let enc = match n.format {
                Format::Xlsx => {
                    encoding = Some("XLSX");
                    Encoding::Utf8
                }
                Format::Csv => {
                    let e = file.scan.encoding.unwrap_or(Encoding::Utf8);
                    encoding = Some(e.name());
                    e
                }
            };
            self.write_result(src, id.name, n.format, enc, job).await?;
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
            started: job.started_at,
            finished: job.finished_at,
            sha256: id.sha256,
            failure: job.failure.as_deref(),
            answered_again: again,
        };
        src.put_result(&results::summary_name(base), &summary.to_json())
            .await?;
        src.archive(id.name, job.status == Status::Failed, file.marker)
            .await?;
        jobs::release(&self.state.db, job.job_id, &self.owner).await?;
        Ok(())
    }

    /// The result CSV, by parts: the input read a last time, merged with the
    /// job's line results.
    async fn write_result(
        &self,
        src: &Source,
        name: &str,
        format: Format,
        enc: Encoding,
        job: &Job,
    ) -> Result<(), LoadError> {
        let base = naming::base_of(name);
        let mut rows = Rows::open(src, name, format, enc).await?;
        rows.header().await?;
        let mut lines = jobs::LinePages::new(job.job_id);
        let mut out = results::ResultCsv::default();
        let mut w = src.create_result(&results::result_name(base)).await?;
        loop {
            let chunk = rows.next_chunk(RESULT_ROWS).await?;
            if chunk.is_empty() {
                break;
            }
            for row in &chunk {
                let l = lines.get(&self.state.db, row.line_no).await?;
                out.row(row, l.as_ref());
            }
            if out.pending() >= RESULT_PART {
                w.write(&out.take()).await?;
            }
        }
        w.write(&out.take()).await?;
        src.finish_result(w).await?;
        Ok(())
    }
}

/// Rows per read of the result pass, and bytes per write of the result.
const RESULT_ROWS: usize = 5000;
const RESULT_PART: usize = 256 * 1024;

/// The file a loader works: who it is, what its scan found, whether a
/// marker said it was complete.
struct File<'a> {
    id: &'a FileId<'a>,
    scan: &'a Scan,
    marker: bool,
}

fn check_header(n: &FileName, header: &[String]) -> Result<(), String> {
    let want = n.kind.header();
    let got: Vec<String> = header
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
