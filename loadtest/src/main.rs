//! `haoka-loadtest sysbench ...`: sysbench straight at MariaDB, through a
//! protocol-blind TCP relay (the floor of any extra hop) and through
//! haoka-proxy in one run; prints QPS, the ratios to the relay and to
//! MariaDB, and CPU per query of the relay, the proxy and MariaDB.
//! `haoka-loadtest numbers ...`: loads 2M numbers, then number selection
//! through the API vs the same SQL straight on the shard, and holds through
//! the API vs the bare conditional UPDATE on the shard.
//! `haoka-loadtest txn-cost ...`: a one-shard commit vs a two-shard XA commit
//! through the proxy (and the same transaction directly on MariaDB).
//! `haoka-loadtest transfers ...`: cross-province card transfers end to end
//! (half transactions over RabbitMQ) vs same-province transfers, and the
//! source-commit to target-commit lag.
//! `haoka-loadtest batch ...`: a 1M-number intake file over the SFTP drop to
//! its result file through haoka-batch vs LOAD DATA LOCAL INFILE of the same
//! rows straight into scratch shard tables; the loader's peak RSS.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use haoka_loadtest::sysbench::{parse_summary, sysbench, Target};
use haoka_loadtest::{procstat, relay};
use mysql_async::prelude::Queryable;

#[derive(Parser)]
#[command(
    name = "haoka-loadtest",
    about = "haoka benchmarks (ratios against same-run baselines)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// A protocol-blind TCP relay, LISTEN -> BACKEND (a `/path` is a Unix
    /// socket), running until killed: the floor of any extra hop.
    Relay(RelayArgs),
    /// sysbench direct vs through the proxy.
    Sysbench(Box<SysbenchArgs>),
    /// A two-row transaction committed on one shard vs on two shards (XA).
    TxnCost(TxnCostArgs),
    /// Number center: selection and holds vs direct SQL on the shard.
    Numbers(NumbersArgs),
    /// Card transfers: across provinces (end to end) vs inside one.
    Transfers(TransfersArgs),
    /// Report center: number exports (CSV, XLSX) and a status report vs the shards.
    Reports(ReportsArgs),
    /// Batch loader: an intake file over SFTP to its result vs LOAD DATA LOCAL INFILE.
    Batch(BatchArgs),
}

#[derive(Parser)]
struct BatchArgs {
    /// Numbers in the intake file.
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    #[arg(long, default_value = "mysql://haoka:haoka@127.0.0.1:3307/haoka")]
    proxy: String,
    /// MariaDB itself, for the baseline (LOCAL INFILE allowed).
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306/haoka_global")]
    direct: String,
    /// The haoka-batch binary to measure.
    #[arg(long, default_value = "target/release/haoka-batch")]
    loader_bin: PathBuf,
    /// The checkout whose up.sh made the stack (its var/sftp has the drop's key).
    #[arg(long, default_value = ".")]
    stack_root: PathBuf,
    #[arg(long, default_value = "deploy/local/server.toml")]
    server_config: PathBuf,
    /// The account the loader works as.
    #[arg(long, default_value = "admin")]
    staff_no: String,
    #[arg(long, default_value_t = 1000)]
    chunk_lines: usize,
}

async fn run_batch(a: BatchArgs) -> anyhow::Result<()> {
    let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    haoka_loadtest::batch::run(&haoka_loadtest::batch::Args {
        count: a.count,
        proxy: a.proxy,
        direct: a.direct,
        loader_bin: abs(a.loader_bin),
        stack_root: abs(a.stack_root),
        server_config: abs(a.server_config),
        staff_no: a.staff_no,
        chunk_lines: a.chunk_lines,
    })
    .await
}

#[derive(Parser)]
struct ReportsArgs {
    /// Numbers in the bench stock (the `numbers` benchmark's; loaded if missing).
    #[arg(long, default_value_t = 2_000_000)]
    count: u64,
    #[arg(long, default_value_t = 8)]
    load_parallel: usize,
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306/haoka_global")]
    direct: String,
    #[arg(long, default_value = "mysql://haoka:haoka@127.0.0.1:3307/haoka")]
    proxy: String,
    /// Skip the XLSX export (it takes longest).
    #[arg(long)]
    no_xlsx: bool,
}

async fn run_reports(a: ReportsArgs) -> anyhow::Result<()> {
    use haoka_loadtest::numbers::{load, plan, start_api_with};
    use haoka_loadtest::reports::*;
    let proxy = mysql_async::Pool::new(mysql_async::Opts::from_url(&a.proxy)?);
    let direct = mysql_async::Pool::new(mysql_async::Opts::from_url(&a.direct)?);
    let segs = plan(&proxy, a.count).await?;
    let loaded = load(&proxy, &segs, a.load_parallel).await?;
    let total: u64 = segs.iter().map(|s| u64::from(s.n)).sum();
    println!("stock: {total} bench numbers ({loaded} loaded now)");
    let dir = std::env::temp_dir().join(format!("haoka-bench-reports-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = dir.join("store");
    let store_s = store.to_string_lossy().into_owned();
    let api = start_api_with(&a.proxy, &["permission", "report"], |cfg| {
        cfg.report.store_dir = store_s;
        cfg.report.max_parallel = 1;
    })
    .await?;
    let (base_rows, base_s) = mariadb_baseline(&dir).await?;
    let base_rate = base_rows as f64 / base_s;
    println!(
        "| export of {base_rows} numbers | rows/s | seconds | peak RSS MiB (before) | ratio |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!("| mariadb --quick on the 8 shards at once, to files | {base_rate:.0} | {base_s:.1} | - | 1.00 |");
    let mut formats = vec!["csv"];
    if !a.no_xlsx {
        formats.push("xlsx");
    }
    for f in formats {
        let e = export(&api, f).await?;
        let rate = e.rows as f64 / e.seconds;
        println!(
            "| API {f} ({} rows, {:.0} MB) | {rate:.0} | {:.1} | {:.0} ({:.0}) | **{:.2}** |",
            e.rows,
            e.bytes as f64 / 1e6,
            e.seconds,
            e.peak_rss_mib,
            e.rss_before_mib,
            rate / base_rate
        );
    }
    let (groups, direct_s) = status_baseline(&direct).await?;
    let (rows, api_s) = status_report(&api).await?;
    println!(
        "status report over all provinces: API {api_s:.2} s ({rows} rows), straight on the shards {direct_s:.2} s ({groups} groups)"
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

#[derive(Parser)]
struct TransfersArgs {
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 15)]
    time: u64,
    /// Cards per transfer.
    #[arg(long, default_value_t = 5)]
    cards: usize,
    /// Source province of both runs; the cross-province target is `--to`.
    #[arg(long, default_value = "36")]
    from: String,
    #[arg(long, default_value = "84")]
    to: String,
    /// Cards stocked in each source depot (one set per client).
    #[arg(long, default_value_t = 2_000)]
    stock: usize,
    /// The relay's idle poll (a commit in the process wakes it at once).
    #[arg(long, default_value_t = 50)]
    poll_ms: u64,
    /// The relay's passes in flight (`[outbox] relay_passes`; 1 = serial).
    #[arg(long, default_value_t = 1)]
    relay_passes: u32,
    #[arg(long, default_value = "mysql://haoka:haoka@127.0.0.1:3307/haoka")]
    proxy: String,
}

async fn run_transfers(a: TransfersArgs) -> anyhow::Result<()> {
    use haoka_loadtest::transfers::*;
    use std::sync::Arc;
    anyhow::ensure!(a.from != a.to, "--from and --to must differ");
    let db = mysql_async::Pool::new(mysql_async::Opts::from_url(&a.proxy)?);
    // Per client: two same-province depots, and a source and a target depot.
    let t = std::time::Instant::now();
    let (mut locals, mut crosses) = (Vec::new(), Vec::new());
    for _ in 0..a.clients {
        let (l1, l2) = (depot(&db, &a.from).await?, depot(&db, &a.from).await?);
        let (c1, c2) = (depot(&db, &a.from).await?, depot(&db, &a.to).await?);
        for d in [&l1, &l2, &c1] {
            stock(&db, &a.from, d, a.stock).await?;
        }
        locals.push((l1.0, l2.0));
        crosses.push((c1.0, c2.0));
    }
    println!(
        "stock: {} depots x {} cards in {:.1} s",
        3 * a.clients,
        a.stock,
        t.elapsed().as_secs_f64()
    );
    let api = Arc::new(api(&a.proxy, a.poll_ms, a.relay_passes).await?);
    let time = std::time::Duration::from_secs(a.time);
    let same = local(api.clone(), Arc::new(locals), time, a.cards).await?;
    let (across, ids) = cross(
        api.clone(),
        db.clone(),
        &a.from,
        Arc::new(crosses),
        time,
        a.cards,
    )
    .await?;
    let lag = lags(&db, &a.from, &a.to, &ids).await?;
    println!(
        "{} clients, {} cards per transfer, {} s each, relay poll {} ms, {} relay passes in flight",
        a.clients, a.cards, a.time, a.poll_ms, a.relay_passes
    );
    println!(
        "{:<34} {:>12} {:>9} {:>9} {:>8}",
        "transfers", "transfers/s", "p50_ms", "p99_ms", "ratio"
    );
    for (name, m) in [
        (format!("same province ({})", a.from), same),
        (
            format!("cross province ({}->{}), end to end", a.from, a.to),
            across,
        ),
    ] {
        println!(
            "{:<34} {:>12.1} {:>9.1} {:>9.1} {:>8.3}",
            name,
            m.per_sec,
            m.p50_ms,
            m.p99_ms,
            m.per_sec / same.per_sec
        );
    }
    println!(
        "lag source commit -> target commit: p50 {:.1} ms, p99 {:.1} ms over {} transfers",
        percentile(&lag, 0.5),
        percentile(&lag, 0.99),
        lag.len()
    );
    Ok(())
}

#[derive(Parser)]
struct NumbersArgs {
    /// Numbers in the bench stock (loaded once, all on shelf).
    #[arg(long, default_value_t = 2_000_000)]
    count: u64,
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 15)]
    time: u64,
    /// Parallel loaders.
    #[arg(long, default_value_t = 8)]
    load_parallel: usize,
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306/haoka_global")]
    direct: String,
    #[arg(long, default_value = "mysql://haoka:haoka@127.0.0.1:3307/haoka")]
    proxy: String,
    /// Only load the stock.
    #[arg(long)]
    load_only: bool,
    /// Skip the selection part (for profiling holds).
    #[arg(long)]
    holds_only: bool,
}

async fn run_numbers(a: NumbersArgs) -> anyhow::Result<()> {
    use haoka_loadtest::numbers::*;
    use rand::SeedableRng;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let proxy = mysql_async::Pool::new(mysql_async::Opts::from_url(&a.proxy)?);
    let direct = mysql_async::Pool::new(mysql_async::Opts::from_url(&a.direct)?);
    let segs = plan(&proxy, a.count).await?;
    let total: u64 = segs.iter().map(|s| u64::from(s.n)).sum();
    let t = std::time::Instant::now();
    let loaded = load(&proxy, &segs, a.load_parallel).await?;
    println!(
        "stock: {total} numbers in {} segments ({} loaded now in {:.0} s)",
        segs.len(),
        loaded,
        t.elapsed().as_secs_f64()
    );
    if a.load_only {
        return Ok(());
    }
    reset_holds(&direct).await?;
    let dbs = Arc::new(shard_dbs(&direct, &segs).await?);
    let api = Arc::new(start_api(&a.proxy).await?);
    let segs = Arc::new(segs);
    let time = std::time::Duration::from_secs(a.time);
    // Everything an op crosses shares the two cores: CPU per op by component.
    let cpu = procstat::CpuGroups::find(&[
        ("proxy", "haoka-proxy"),
        ("mariadbd", "mariadbd"),
        ("redis", "redis-server"),
        ("rabbitmq", "beam.smp"),
    ]);
    let mut cpu_rows = Vec::new();
    if !a.holds_only {
        // Same answers first: the API page equals the direct SQL page.
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..30 {
            let q = random_query(&mut rng, &segs);
            let (sql, params) = direct_sql(&dbs[&q.province], &q);
            let want: Vec<String> = direct.get_conn().await?.exec(sql, params).await?;
            let got = api_select(&api, &q).await?;
            anyhow::ensure!(got == want, "{}: API {got:?} != SQL {want:?}", q.api);
        }
        // Warm the shelf cache: one call per city (a cold shelf is one load).
        let mut cities: Vec<(String, String)> = segs
            .iter()
            .map(|s| (s.province.clone(), s.city.clone()))
            .collect();
        cities.dedup();
        let t = std::time::Instant::now();
        for (p, c) in &cities {
            let q = Query {
                api: format!("province_code={p}&city_code={c}&page_size=1"),
                sql_cond: String::new(),
                params: vec![],
                province: p.clone(),
            };
            api_select(&api, &q).await?;
        }
        println!(
            "shelf cache warmed: {} cities in {:.1} s",
            cities.len(),
            t.elapsed().as_secs_f64()
        );
        let c0 = cpu.sample();
        let select_direct = {
            let (direct, segs, dbs) = (direct.clone(), segs.clone(), dbs.clone());
            closed_loop(a.clients, time, move |client, i| {
                let (direct, segs, dbs) = (direct.clone(), segs.clone(), dbs.clone());
                async move {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(client as u64 * 1_000_003 + i);
                    let q = random_query(&mut rng, &segs);
                    let (sql, params) = direct_sql(&dbs[&q.province], &q);
                    let _: Vec<String> = direct.get_conn().await?.exec(sql, params).await?;
                    Ok(true)
                }
            })
            .await?
        };
        cpu_rows.push(("selection, direct SQL", c0, cpu.sample(), select_direct.ops));
        let c0 = cpu.sample();
        let select_api = select_loop(&api, &segs, a.clients, time).await?;
        cpu_rows.push(("selection, API", c0, cpu.sample(), select_api.ops));
        print_ratios(
            "selection",
            &[
                ("direct SQL (shard)", select_direct),
                ("API (cache)", select_api),
            ],
        );
    }
    // Holds: every op takes a distinct on-shelf number.
    let (for_direct, for_api) = hold_numbers(&segs, 11);
    let (for_direct, for_api) = (Arc::new(for_direct), Arc::new(for_api));
    let c0 = cpu.sample();
    let hold_direct = {
        let (direct, dbs, nums, next) = (
            direct.clone(),
            dbs.clone(),
            for_direct.clone(),
            Arc::new(AtomicUsize::new(0)),
        );
        closed_loop(a.clients, time, move |_, _| {
            let (direct, dbs, nums, next) = (direct.clone(), dbs.clone(), nums.clone(), next.clone());
            async move {
                let (no, prov) = &nums[next.fetch_add(1, Ordering::SeqCst) % nums.len()];
                let seg: u32 = no[..7].parse()?;
                let mut c = direct.get_conn().await?;
                c.exec_drop(
                    format!(
                        "UPDATE {}.phone_number_{} SET status = '04', hold_key = ?, hold_staff_id = 1,                          hold_deadline = DATE_ADD(NOW(3), INTERVAL 1800 SECOND), version = version + 1                          WHERE phone_no = ? AND status = '03'",
                        dbs[prov],
                        seg % 4
                    ),
                    (format!("bench-{no}"), no.as_str()),
                )
                .await?;
                Ok(c.affected_rows() == 1)
            }
        })
        .await?
    };
    cpu_rows.push(("hold, direct UPDATE", c0, cpu.sample(), hold_direct.ops));
    let c0 = cpu.sample();
    let hold_api = {
        let (api, nums, next) = (api.clone(), for_api.clone(), Arc::new(AtomicUsize::new(0)));
        closed_loop(a.clients, time, move |_, _| {
            let (api, nums, next) = (api.clone(), nums.clone(), next.clone());
            async move {
                let (no, _) = &nums[next.fetch_add(1, Ordering::SeqCst) % nums.len()];
                api_hold(&api, no).await
            }
        })
        .await?
    };
    cpu_rows.push(("hold, API", c0, cpu.sample(), hold_api.ops));
    print_ratios(
        "hold",
        &[
            ("direct UPDATE (shard)", hold_direct),
            ("API hold", hold_api),
        ],
    );
    if !a.holds_only {
        // Selections while holds run: a hold must not cost selections a
        // shelf reload. Half the clients select, half hold (the numbers of
        // the direct baseline, put back on the shelf first).
        reset_holds(&direct).await?;
        let half = (a.clients / 2).max(1);
        let alone = select_loop(&api, &segs, half, time).await?;
        let next = Arc::new(AtomicUsize::new(0));
        let holds = {
            let (api, nums) = (api.clone(), for_direct.clone());
            closed_loop(half, time, move |_, _| {
                let (api, nums, next) = (api.clone(), nums.clone(), next.clone());
                async move {
                    let (no, _) = &nums[next.fetch_add(1, Ordering::SeqCst) % nums.len()];
                    api_hold(&api, no).await
                }
            })
        };
        let (with_holds, holds) = tokio::join!(select_loop(&api, &segs, half, time), holds);
        print_ratios(
            &format!("selection, {half} cl."),
            &[("alone", alone), ("while holding", with_holds?)],
        );
        println!("holds meanwhile: {:.0}/s", holds?.per_sec);
    }
    // Other processes on the box (builds, other tests through the same proxy
    // and MariaDB) count too: compare rows of one run, not absolute values.
    print!("{:<22}", "CPU µs per op");
    for l in cpu.labels() {
        print!(" {l:>13}");
    }
    println!();
    for (name, before, after, ops) in cpu_rows {
        print!("{name:<22}");
        for (b, a) in before.iter().zip(&after) {
            print!(" {:>13.0}", (a - b) * 1e6 / ops.max(1) as f64);
        }
        println!();
    }
    reset_holds(&direct).await?;
    Ok(())
}

/// Random selections through the API from `clients` clients.
async fn select_loop(
    api: &std::sync::Arc<haoka_loadtest::numbers::Api>,
    segs: &std::sync::Arc<Vec<haoka_loadtest::numbers::Seg>>,
    clients: usize,
    time: std::time::Duration,
) -> anyhow::Result<haoka_loadtest::numbers::Measure> {
    use rand::SeedableRng;
    let (api, segs) = (api.clone(), segs.clone());
    haoka_loadtest::numbers::closed_loop(clients, time, move |client, i| {
        let (api, segs) = (api.clone(), segs.clone());
        async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(client as u64 * 1_000_003 + i);
            let q = haoka_loadtest::numbers::random_query(&mut rng, &segs);
            haoka_loadtest::numbers::api_select(&api, &q).await?;
            Ok(true)
        }
    })
    .await
}

/// A table of measurements, each as a ratio to the first (the baseline).
fn print_ratios(title: &str, rows: &[(&str, haoka_loadtest::numbers::Measure)]) {
    println!(
        "{:<22} {:>10} {:>9} {:>9} {:>8}",
        title, "ops/s", "p50_ms", "p99_ms", "ratio"
    );
    for (name, m) in rows {
        println!(
            "{:<22} {:>10.0} {:>9.2} {:>9.2} {:>8.2}",
            name,
            m.per_sec,
            m.p50_ms,
            m.p99_ms,
            m.per_sec / rows[0].1.per_sec
        );
    }
}

#[derive(Parser)]
struct TxnCostArgs {
    #[arg(long, default_value_t = 8)]
    clients: u64,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 10)]
    time: u64,
    /// Rows of sysbench's sbtest1 (at least 2000; blocks of 1000 ids).
    #[arg(long, default_value_t = 10_000)]
    table_size: u64,
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306/sbtest_direct")]
    direct: String,
    #[arg(long, default_value = "mysql://haoka:haoka@127.0.0.1:3307/sbtest")]
    proxy: String,
}

async fn run_txn_cost(a: TxnCostArgs) -> anyhow::Result<()> {
    use haoka_loadtest::txn_cost::{run, Spread};
    anyhow::ensure!(a.table_size >= 2000, "--table-size must be at least 2000");
    anyhow::ensure!(
        (1..=24).contains(&a.clients),
        "--clients must be 1..=24 (each owns 40 ids of every 1000)"
    );
    let blocks = a.table_size / 1000;
    let time = std::time::Duration::from_secs(a.time);
    let direct = mysql_async::Opts::from_url(&a.direct)?;
    let proxy = mysql_async::Opts::from_url(&a.proxy)?;
    let d = run(direct, Spread::OneShard, a.clients, time, blocks).await?;
    let one = run(proxy.clone(), Spread::OneShard, a.clients, time, blocks).await?;
    let two = run(proxy, Spread::TwoShards, a.clients, time, blocks).await?;
    println!(
        "{:<8} {:>14} {:>16} {:>16} {:>10} {:>10}",
        "clients", "direct_tx/s", "proxy_1shard/s", "proxy_2shard/s", "xa/1shard", "1shard/dir"
    );
    println!(
        "{:<8} {:>14.0} {:>16.0} {:>16.0} {:>10.3} {:>10.3}",
        a.clients,
        d,
        one,
        two,
        two / one,
        one / d
    );
    Ok(())
}

#[derive(Parser)]
struct RelayArgs {
    #[arg(default_value = "127.0.0.1:3398")]
    listen: String,
    #[arg(default_value = "127.0.0.1:3306")]
    backend: String,
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

async fn run_relay(a: RelayArgs) -> anyhow::Result<()> {
    let backend = relay::Backend::parse(&a.backend).await?;
    let r = relay::start_on(&a.listen, backend, a.threads)?;
    println!("# relay on {} -> {}", r.addr, a.backend);
    std::future::pending::<()>().await;
    Ok(())
}

#[derive(Parser)]
struct SysbenchArgs {
    /// Comma-separated sysbench workloads.
    #[arg(long, default_value = "oltp_point_select,oltp_read_only")]
    workloads: String,
    /// Comma-separated --db-ps-mode values (auto = server-side prepared statements).
    #[arg(long, default_value = "auto,disable")]
    ps_modes: String,
    #[arg(long, default_value_t = 32)]
    threads: u32,
    #[arg(long, default_value_t = 20)]
    time: u32,
    #[arg(long, default_value_t = 4)]
    tables: u32,
    #[arg(long, default_value_t = 100_000)]
    table_size: u64,
    #[arg(long, default_value = "127.0.0.1:3306")]
    direct: String,
    #[arg(long, default_value = "root")]
    direct_user: String,
    #[arg(long, default_value = "")]
    direct_password: String,
    #[arg(long, default_value = "sbtest_direct")]
    direct_db: String,
    #[arg(long, default_value = "127.0.0.1:3307")]
    proxy: String,
    #[arg(long, default_value = "haoka")]
    proxy_user: String,
    #[arg(long, default_value = "haoka")]
    proxy_password: String,
    #[arg(long, default_value = "sbtest")]
    proxy_db: String,
    /// Pid file of the proxy (default: var/run/haoka-proxy.pid, else a process named haoka-proxy).
    #[arg(long)]
    proxy_pid_file: Option<PathBuf>,
    /// Re-create the tables even when they look prepared.
    #[arg(long)]
    reprepare: bool,
    /// Worker threads of the TCP relay (the proxy's default is 2 too).
    #[arg(long, default_value_t = 2)]
    relay_threads: usize,
}

fn target(addr: &str, user: &str, password: &str, db: &str) -> anyhow::Result<Target> {
    let (host, port) = addr
        .rsplit_once(':')
        .with_context(|| format!("{addr} is not host:port"))?;
    Ok(Target {
        host: host.to_string(),
        port: port.parse()?,
        user: user.to_string(),
        password: password.to_string(),
        database: db.to_string(),
    })
}

fn opts(t: &Target, db: Option<&str>) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(t.host.clone())
        .tcp_port(t.port)
        .user(Some(t.user.clone()))
        .pass(Some(t.password.clone()))
        .db_name(db)
        .into()
}

/// True when the last table already holds `size` rows.
async fn looks_prepared(t: &Target, tables: u32, size: u64) -> bool {
    let Ok(mut conn) = mysql_async::Conn::new(opts(t, Some(&t.database))).await else {
        return false;
    };
    let n: Option<u64> = conn
        .query_first(format!("SELECT COUNT(*) FROM sbtest{tables}"))
        .await
        .ok()
        .flatten();
    n == Some(size)
}

async fn prepare(t: &Target, a: &SysbenchArgs, common: &[String]) -> anyhow::Result<()> {
    if !a.reprepare && looks_prepared(t, a.tables, a.table_size).await {
        println!("# {}:{} {}: already prepared", t.host, t.port, t.database);
        return Ok(());
    }
    println!(
        "# preparing {} tables x {} rows on {}:{} {}",
        a.tables, a.table_size, t.host, t.port, t.database
    );
    let _ = sysbench("oltp_common", t, common, "cleanup");
    sysbench("oltp_common", t, common, "prepare")?;
    Ok(())
}

async fn run_sysbench(a: SysbenchArgs) -> anyhow::Result<()> {
    let direct = target(&a.direct, &a.direct_user, &a.direct_password, &a.direct_db)?;
    let proxy = target(&a.proxy, &a.proxy_user, &a.proxy_password, &a.proxy_db)?;
    let mut admin = mysql_async::Conn::new(opts(&direct, None)).await?;
    admin
        .query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS `{}`",
            direct.database
        ))
        .await?;
    let common = vec![
        format!("--tables={}", a.tables),
        format!("--table-size={}", a.table_size),
    ];
    prepare(&direct, &a, &common).await?;
    prepare(&proxy, &a, &common).await?;

    let proxy_pid = match &a.proxy_pid_file {
        Some(p) => procstat::read_pid_file(p)?,
        None => procstat::read_pid_file(std::path::Path::new("var/run/haoka-proxy.pid"))
            .ok()
            .or_else(|| procstat::find_pid("haoka-proxy"))
            .context("cannot find the haoka-proxy process (give --proxy-pid-file)")?,
    };
    let mariadb_pid = procstat::find_pid("mariadbd");

    let relay = relay::start(relay::Backend::parse(&a.direct).await?, a.relay_threads)?;
    let relayed = Target {
        host: relay.addr.ip().to_string(),
        port: relay.addr.port(),
        ..direct.clone()
    };
    let me = std::process::id();

    println!(
        "{:<18} {:<8} {:>7} {:>10} {:>10} {:>10} {:>11} {:>12} {:>12} {:>12} {:>11} {:>11}",
        "workload",
        "ps-mode",
        "threads",
        "direct_qps",
        "relay_qps",
        "proxy_qps",
        "proxy/relay",
        "proxy/direct",
        "relay_us/q",
        "proxy_us/q",
        "db_us/q_d",
        "db_us/q_p"
    );
    for workload in a.workloads.split(',') {
        for mode in a.ps_modes.split(',') {
            let mut args = common.clone();
            args.push(format!("--threads={}", a.threads));
            args.push(format!("--time={}", a.time));
            args.push(format!("--db-ps-mode={mode}"));
            let db0 = mariadb_pid.map(procstat::cpu_seconds).transpose()?;
            let d = parse_summary(&sysbench(workload, &direct, &args, "run")?)?;
            let db1 = mariadb_pid.map(procstat::cpu_seconds).transpose()?;
            let r0 = procstat::cpu_seconds(me)?;
            let r = parse_summary(&sysbench(workload, &relayed, &args, "run")?)?;
            let r1 = procstat::cpu_seconds(me)?;
            let db_r = mariadb_pid.map(procstat::cpu_seconds).transpose()?;
            let p0 = procstat::cpu_seconds(proxy_pid)?;
            let p = parse_summary(&sysbench(workload, &proxy, &args, "run")?)?;
            let p1 = procstat::cpu_seconds(proxy_pid)?;
            let db2 = mariadb_pid.map(procstat::cpu_seconds).transpose()?;
            let per_q = |secs: f64, q: u64| secs * 1e6 / q.max(1) as f64;
            let db_direct = match (db0, db1) {
                (Some(a0), Some(a1)) => format!("{:.1}", per_q(a1 - a0, d.queries)),
                _ => "-".into(),
            };
            let db_proxied = match (db_r, db2) {
                (Some(a1), Some(a2)) => format!("{:.1}", per_q(a2 - a1, p.queries)),
                _ => "-".into(),
            };
            println!(
                "{:<18} {:<8} {:>7} {:>10.0} {:>10.0} {:>10.0} {:>11.3} {:>12.3} {:>12.1} {:>12.1} {:>11} {:>11}",
                workload,
                mode,
                a.threads,
                d.qps,
                r.qps,
                p.qps,
                p.qps / r.qps,
                p.qps / d.qps,
                per_q(r1 - r0, r.queries),
                per_q(p1 - p0, p.queries),
                db_direct,
                db_proxied
            );
            if d.errors + r.errors + p.errors > 0 {
                println!(
                    "#   ignored errors: direct {} relay {} proxy {}",
                    d.errors, r.errors, p.errors
                );
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Relay(a) => run_relay(a).await,
        Cmd::Sysbench(a) => run_sysbench(*a).await,
        Cmd::TxnCost(a) => run_txn_cost(a).await,
        Cmd::Numbers(a) => run_numbers(a).await,
        Cmd::Transfers(a) => run_transfers(a).await,
        Cmd::Reports(a) => run_reports(a).await,
        Cmd::Batch(a) => run_batch(a).await,
    }
}
