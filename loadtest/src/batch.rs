//! Batch loader benchmark (issue 17): an N-number NUM_INTAKE file put on
//! the real SFTP drop, worked to its result file by a haoka-batch process
//! (SFTP → loader → proxy → shards, through the number center's intake:
//! checks, premium classification, history rows), against `LOAD DATA LOCAL
//! INFILE` of the same number rows straight into scratch copies of the
//! shard tables in the same run. Every number, history row, depot and job
//! row it adds is removed at the end, and the scratch tables dropped.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use haoka_services::domain::msisdn::Msisdn;
use haoka_services::number::premium;
use mysql_async::prelude::Queryable;
use mysql_async::Pool;

/// Numbers per segment (the last four digits).
const PER_SEGMENT: u32 = 10_000;
/// Each city's first segments are the `numbers` bench stock's; the upper
/// half is the e2e tests'. This bench takes from between.
const BENCH_STOCK_SEGMENTS: usize = 3;

/// One segment of the bench file.
#[derive(Debug, Clone)]
pub struct Seg {
    pub segment: u32,
    pub province: String,
    pub city: String,
}

/// Unused segments for `count` numbers, from as few provinces as possible.
pub async fn plan(proxy: &Pool, count: u64) -> anyhow::Result<Vec<Seg>> {
    let mut c = proxy.get_conn().await?;
    let rows: Vec<(String, String, String)> = c
        .query("SELECT segment, province_code, city_code FROM segment ORDER BY segment")
        .await?;
    let mut by_city: BTreeMap<(String, String), Vec<u32>> = BTreeMap::new();
    for (s, p, city) in rows {
        by_city.entry((p, city)).or_default().push(s.parse()?);
    }
    let mut by_province: BTreeMap<String, Vec<Seg>> = BTreeMap::new();
    for ((p, city), list) in by_city {
        let half = list.len() / 2;
        for s in list.iter().take(half).skip(BENCH_STOCK_SEGMENTS) {
            by_province.entry(p.clone()).or_default().push(Seg {
                segment: *s,
                province: p.clone(),
                city: city.clone(),
            });
        }
    }
    let mut provinces: Vec<Vec<Seg>> = by_province.into_values().collect();
    provinces.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let need = count.div_ceil(u64::from(PER_SEGMENT)) as usize;
    let mut out = Vec::new();
    for s in provinces.into_iter().flatten() {
        if out.len() == need {
            break;
        }
        let used: Option<i64> = c
            .exec_first(
                "SELECT COUNT(*) FROM phone_number WHERE province_code = ? AND segment = ?",
                (&s.province, s.segment.to_string()),
            )
            .await?;
        if used == Some(0) {
            out.push(s);
        }
    }
    anyhow::ensure!(
        out.len() == need,
        "only {} unused segments for {count} numbers",
        out.len()
    );
    Ok(out)
}

/// The numbers of the plan, in file order, `count` of them.
fn numbers(segs: &[Seg], count: u64) -> impl Iterator<Item = (&Seg, String)> {
    segs.iter()
        .flat_map(|s| (0..PER_SEGMENT).map(move |t| (s, format!("{}{t:04}", s.segment))))
        .take(count as usize)
}

/// A fresh depot per province of the plan.
async fn depots(proxy: &Pool, segs: &[Seg]) -> anyhow::Result<BTreeMap<String, i64>> {
    let mut c = proxy.get_conn().await?;
    let mut out = BTreeMap::new();
    for s in segs {
        if out.contains_key(&s.province) {
            continue;
        }
        let id = 9_900_000_000 + rand::random::<u32>() as i64 % 90_000_000;
        c.exec_drop(
            "INSERT INTO depot (depot_id, province_code, city_code, name) VALUES (?, ?, ?, ?)",
            (id, &s.province, &s.city, format!("batch-bench-{id}")),
        )
        .await?;
        out.insert(s.province.clone(), id);
    }
    Ok(out)
}

/// The stack's SFTP drop through the real `sftp` client.
pub struct Drop {
    key: PathBuf,
    known_hosts: PathBuf,
    pub port: u16,
}

impl Drop {
    pub fn new(stack_root: &Path, port: u16) -> Drop {
        let var = stack_root.join("var/sftp");
        Drop {
            key: var.join("id_ed25519"),
            known_hosts: var.join("known_hosts"),
            port,
        }
    }

    /// Runs an sftp batch script; `-` commands may fail.
    pub fn run(&self, script: &str) -> anyhow::Result<bool> {
        let mut child = Command::new("sftp")
            .args(["-b", "-", "-q", "-i"])
            .arg(&self.key)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args(["-o", "StrictHostKeyChecking=yes", "-P"])
            .arg(self.port.to_string())
            .arg("sftp@127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("the sftp client runs")?;
        child
            .stdin
            .take()
            .context("sftp stdin")?
            .write_all(script.as_bytes())?;
        Ok(child.wait()?.success())
    }

    fn get(&self, remote: &str, local: &Path) -> anyhow::Result<Option<Vec<u8>>> {
        let _ = std::fs::remove_file(local);
        if !self.run(&format!("get {remote} {}\n", local.display()))? {
            return Ok(None);
        }
        Ok(std::fs::read(local).ok())
    }
}

/// The loader's peak resident set (VmHWM) in KiB.
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/PID/status")
}

pub struct Args {
    pub count: u64,
    pub proxy: String,
    pub direct: String,
    pub loader_bin: PathBuf,
    pub stack_root: PathBuf,
    pub server_config: PathBuf,
    pub staff_no: String,
    pub chunk_lines: usize,
}

/// What the loader run measured.
pub struct LoaderRun {
    pub lines: u64,
    pub ok: u64,
    /// From the file's last byte on the drop to its result files there.
    pub to_result_s: f64,
    /// The job's own span: first read to the last chunk's commit.
    pub apply_s: f64,
    pub peak_rss_mib: f64,
    pub file_mb: f64,
}

pub async fn run(a: &Args) -> anyhow::Result<()> {
    let proxy = Pool::new(mysql_async::Opts::from_url(&a.proxy)?);
    let direct = Pool::new(mysql_async::Opts::from_url(&a.direct)?);
    let segs = plan(&proxy, a.count).await?;
    let depots = depots(&proxy, &segs).await?;
    let tag = format!("bench{:x}{:08x}", std::process::id(), rand::random::<u32>());
    let dir = std::env::temp_dir().join(&tag);
    std::fs::create_dir_all(&dir)?;
    let result = async {
        let rules = premium::default_rules();
        let base = baseline(&direct, &segs, &depots, a.count, &rules).await?;
        let run = loader_run(a, &proxy, &segs, &depots, &tag, &dir).await?;
        Ok::<_, anyhow::Error>((base, run))
    }
    .await;
    let cleaned = cleanup(&proxy, &segs, &depots, &tag, a).await;
    std::fs::remove_dir_all(&dir).ok();
    let (base, run) = result?;
    cleaned?;
    let base_rate = base.rows as f64 / base.seconds;
    let rate = run.lines as f64 / run.apply_s;
    let e2e = run.lines as f64 / run.to_result_s;
    println!(
        "| {} numbers ({:.1} MB file), chunk {} | lines/s | seconds | ratio |",
        run.lines, run.file_mb, a.chunk_lines
    );
    println!("|---|---:|---:|---:|");
    println!(
        "| LOAD DATA LOCAL INFILE straight into {} scratch shard tables | {base_rate:.0} | {:.1} | 1.00 |",
        base.tables, base.seconds
    );
    println!(
        "| haoka-batch: job start to last commit | {rate:.0} | {:.1} | **{:.2}** |",
        run.apply_s,
        rate / base_rate
    );
    println!(
        "| haoka-batch: drop complete to result file | {e2e:.0} | {:.1} | {:.2} |",
        run.to_result_s,
        e2e / base_rate
    );
    println!(
        "loader peak RSS (VmHWM): {:.1} MiB; {} of {} lines ok",
        run.peak_rss_mib, run.ok, run.lines
    );
    Ok(())
}

struct Baseline {
    rows: u64,
    seconds: f64,
    tables: usize,
}

/// The shard database and physical table of a number (the rules: province
/// → shard, segment mod 4 → table).
fn shard_of() -> anyhow::Result<BTreeMap<String, String>> {
    // The proxy's province map, from the rules it loads.
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/rules.toml"),
    )?;
    let mut map = BTreeMap::new();
    let mut in_table = false;
    for line in rules.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_table = l == "[schemas.province_shards]";
            continue;
        }
        if in_table {
            if let Some((k, v)) = l.split_once('=') {
                let k = k.trim().trim_matches('"').to_string();
                let v: String = v
                    .split('#')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect();
                if !v.is_empty() {
                    map.insert(k, format!("haoka_s{v}"));
                }
            }
        }
    }
    anyhow::ensure!(!map.is_empty(), "no [schemas.province_shards] in the rules");
    Ok(map)
}

/// The same rows the intake writes (status 01, premium level, tail, depot),
/// loaded with LOAD DATA LOCAL INFILE into `<table>_bload` copies.
async fn baseline(
    direct: &Pool,
    segs: &[Seg],
    depots: &BTreeMap<String, i64>,
    count: u64,
    rules: &[premium::Rule],
) -> anyhow::Result<Baseline> {
    let shards = shard_of()?;
    let mut files: BTreeMap<(String, u32), Vec<u8>> = BTreeMap::new();
    for (s, no) in numbers(segs, count) {
        let db = shards
            .get(&s.province)
            .with_context(|| format!("no shard for province {}", s.province))?;
        let m = Msisdn::parse(&no)?;
        let level = premium::classify(&m, &s.province, rules);
        let buf = files.entry((db.clone(), s.segment % 4)).or_default();
        writeln!(
            buf,
            "{no}\t{}\t{}\t{}\t01\t{level}\t{}\t\\N\t{}",
            s.segment,
            s.province,
            s.city,
            m.tail4(),
            depots[&s.province]
        )?;
    }
    let mut c = direct.get_conn().await?;
    let mut made = Vec::new();
    let mut secs = 0.0;
    let outcome = async {
        for ((db, n), data) in &files {
            let scratch = format!("{db}.phone_number_{n}_bload");
            c.query_drop(format!("DROP TABLE IF EXISTS {scratch}"))
                .await?;
            c.query_drop(format!("CREATE TABLE {scratch} LIKE {db}.phone_number_{n}"))
                .await?;
            made.push(scratch.clone());
            let bytes = bytes::Bytes::from(data.clone());
            c.set_infile_handler(async move {
                let s: mysql_async::InfileData = Box::pin(futures_util::stream::iter([Ok(bytes)]));
                Ok(s)
            });
            let t = Instant::now();
            c.query_drop(format!(
                "LOAD DATA LOCAL INFILE 'bench.tsv' INTO TABLE {scratch} \
                 (phone_no, segment, province_code, city_code, status, premium_level, tail4, \
                 pool_id, depot_id)"
            ))
            .await?;
            secs += t.elapsed().as_secs_f64();
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    for t in &made {
        c.query_drop(format!("DROP TABLE IF EXISTS {t}")).await?;
    }
    outcome?;
    Ok(Baseline {
        rows: count,
        seconds: secs,
        tables: files.len(),
    })
}

fn spawn_loader(a: &Args, config: &Path) -> anyhow::Result<Child> {
    Command::new(&a.loader_bin)
        .arg("--config")
        .arg(config)
        .env("HAOKA_DATABASE_URL", &a.proxy)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("{} starts", a.loader_bin.display()))
}

async fn loader_run(
    a: &Args,
    proxy: &Pool,
    segs: &[Seg],
    depots: &BTreeMap<String, i64>,
    tag: &str,
    dir: &Path,
) -> anyhow::Result<LoaderRun> {
    let name = format!("NUM_INTAKE_{}_20261202_{tag}.csv", segs[0].province);
    let local = dir.join(&name);
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&local)?);
        writeln!(f, "phone_no,depot_id,pool_id")?;
        for (s, no) in numbers(segs, a.count) {
            writeln!(f, "{no},{},", depots[&s.province])?;
        }
    }
    let file_mb = std::fs::metadata(&local)?.len() as f64 / 1e6;
    let sftp = Drop::new(&a.stack_root, 2222);
    // A folder of its own: the stack's loader works only /incoming itself.
    anyhow::ensure!(
        sftp.run(&format!(
            "mkdir /incoming/{tag}\nmkdir /results/{tag}\nmkdir /results/{tag}/done\n\
             mkdir /results/{tag}/failed\n"
        ))?,
        "sftp mkdir"
    );
    let marker = dir.join("marker");
    std::fs::write(&marker, b"")?;
    let var = a.stack_root.join("var/sftp");
    let config = dir.join("batch.toml");
    std::fs::write(
        &config,
        format!(
            "server_config = \"{}\"\nstaff_no = \"{}\"\nchunk_lines = {}\npoll_interval_ms = 200\n\
             lease_seconds = 60\n\n[[sources]]\nkind = \"sftp\"\nname = \"bench-{tag}\"\n\
             host = \"127.0.0.1\"\nport = 2222\nuser = \"sftp\"\nkey = \"{}\"\nknown_hosts = \"{}\"\n\
             incoming = \"/incoming/{tag}\"\nresults = \"/results/{tag}\"\n\
             done = \"/results/{tag}/done\"\nfailed = \"/results/{tag}/failed\"\n",
            a.server_config.display(),
            a.staff_no,
            a.chunk_lines,
            var.join("id_ed25519").display(),
            var.join("known_hosts").display(),
        ),
    )?;
    // The file, then its marker: complete from then on.
    anyhow::ensure!(
        sftp.run(&format!(
            "put {} /incoming/{tag}/{name}\nput {} /incoming/{tag}/{name}.ok\n",
            local.display(),
            marker.display()
        ))?,
        "sftp put"
    );
    let t0 = Instant::now();
    let mut child = spawn_loader(a, &config)?;
    let base = name.trim_end_matches(".csv");
    let summary_path = dir.join("summary.json");
    let outcome = async {
        // The job row says when the file is worked (a query through the
        // proxy); only then is the drop asked for the summary, since every
        // `sftp` run is an SSH handshake that would take the CPU the loader
        // is being measured on.
        let mut c = proxy.get_conn().await?;
        loop {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("haoka-batch exited: {status}");
            }
            let status: Option<String> = c
                .exec_first(
                    "SELECT status FROM batch_job WHERE file_name = ? AND source = ?",
                    (&name, format!("bench-{tag}")),
                )
                .await?;
            if status.as_deref().is_none_or(|s| s == "R") {
                anyhow::ensure!(
                    t0.elapsed() < Duration::from_secs(3600),
                    "no result within an hour"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            if let Some(s) = sftp.get(
                &format!("/results/{tag}/{base}.summary.json"),
                &summary_path,
            )? {
                let to_result_s = t0.elapsed().as_secs_f64();
                let peak = peak_rss_kib(child.id())?;
                let v: serde_json::Value = serde_json::from_slice(&s)?;
                return Ok((v, to_result_s, peak));
            }
            anyhow::ensure!(
                t0.elapsed() < Duration::from_secs(3600),
                "no result within an hour"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let (summary, to_result_s, peak) = outcome?;
    let mut c = proxy.get_conn().await?;
    let span: Option<i64> = c
        .exec_first(
            "SELECT TIMESTAMPDIFF(MICROSECOND, started_at, updated_at) FROM batch_job \
             WHERE file_name = ? AND source = ?",
            (&name, format!("bench-{tag}")),
        )
        .await?;
    let lines = summary["total"].as_u64().unwrap_or(0);
    let ok = summary["ok"].as_u64().unwrap_or(0);
    anyhow::ensure!(
        lines == a.count,
        "the result counts {lines} lines, the file has {}",
        a.count
    );
    Ok(LoaderRun {
        lines,
        ok,
        to_result_s,
        apply_s: span.unwrap_or(0) as f64 / 1e6,
        peak_rss_mib: peak as f64 / 1024.0,
        file_mb,
    })
}

/// Removes everything the bench added: numbers, history rows, their
/// events, depots, the job and its lines, the drop's folders.
async fn cleanup(
    proxy: &Pool,
    segs: &[Seg],
    depots: &BTreeMap<String, i64>,
    tag: &str,
    a: &Args,
) -> anyhow::Result<()> {
    let mut c = proxy.get_conn().await?;
    for s in segs {
        let seg = s.segment.to_string();
        c.exec_drop(
            "DELETE FROM phone_number WHERE province_code = ? AND segment = ?",
            (&s.province, &seg),
        )
        .await?;
        c.exec_drop(
            "DELETE FROM number_history WHERE province_code = ? AND phone_no BETWEEN ? AND ?",
            (&s.province, format!("{seg}0000"), format!("{seg}9999")),
        )
        .await?;
    }
    for id in depots.values() {
        // The intake's number.taken_in events: found by a plain read,
        // deleted by key on their shard (a DELETE ... LIKE would lock every
        // shard's outbox and wait on the relay).
        let events: Vec<(String, String)> = c
            .exec(
                "SELECT province_code, message_id FROM outbox \
                 WHERE routing_key = 'number.taken_in' AND payload LIKE ?",
                (format!("%\"depot_id\":{id}%"),),
            )
            .await?;
        for (province, message_id) in events {
            c.exec_drop(
                "DELETE FROM outbox WHERE province_code = ? AND message_id = ?",
                (province, message_id),
            )
            .await?;
        }
        c.exec_drop("DELETE FROM depot WHERE depot_id = ?", (id,))
            .await?;
    }
    let jobs: Vec<i64> = c
        .exec(
            "SELECT job_id FROM batch_job WHERE source = ?",
            (format!("bench-{tag}"),),
        )
        .await?;
    for j in jobs {
        c.exec_drop("DELETE FROM batch_line WHERE job_id = ?", (j,))
            .await?;
        c.exec_drop("DELETE FROM batch_job WHERE job_id = ?", (j,))
            .await?;
    }
    let sftp = Drop::new(&a.stack_root, 2222);
    sftp.run(&format!(
        "-rm /incoming/{tag}/*\n-rmdir /incoming/{tag}\n-rm /results/{tag}/done/*\n\
         -rmdir /results/{tag}/done\n-rm /results/{tag}/failed/*\n-rmdir /results/{tag}/failed\n\
         -rm /results/{tag}/*\n-rmdir /results/{tag}\n"
    ))?;
    Ok(())
}
