//! A 1,000,000-line intake file goes through the loader's read path (the
//! scan pass, the incremental decode/parse into chunks, the seen-keys set)
//! from a real object-store drop (a local directory) without its memory
//! growing with the file: this process's peak RSS (VmHWM) grows by far
//! less than the file and its rows would take if held whole.

use haoka_batch::config::LocalConfig;
use haoka_batch::decode::Encoding;
use haoka_batch::kinds::naming::Format;
use haoka_batch::seen::Seen;
use haoka_batch::sources::object_store::Store;
use haoka_batch::sources::{Reading, Source};
use haoka_batch::stream::{self, Rows};

const LINES: u64 = 1_000_000;

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_million_lines_in_bounded_memory() {
    let root = std::env::temp_dir().join(format!("h17mem{}", std::process::id()));
    let src = Source::Store(
        Store::open(&LocalConfig {
            name: "mem".into(),
            root: root.clone(),
        })
        .unwrap(),
    );
    let name = "NUM_INTAKE_51_20261202_mem.csv";
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(root.join("incoming").join(name)).unwrap(),
        );
        writeln!(f, "phone_no,depot_id,pool_id").unwrap();
        for i in 0..LINES {
            writeln!(f, "1{:010},9000000001,", 3_800_000_000 + i).unwrap();
        }
    }
    let size = std::fs::metadata(root.join("incoming").join(name))
        .unwrap()
        .len();
    let before = vm_hwm_kib();

    let mut r: Reading = src.open_read(name).await.unwrap();
    let scan = stream::scan(&mut r, true).await.unwrap();
    drop(r);
    assert_eq!(scan.size, size);
    assert_eq!(scan.lines, LINES + 1);
    assert_eq!(scan.encoding, Some(Encoding::Utf8));

    let mut rows = Rows::open(&src, name, Format::Csv, Encoding::Utf8)
        .await
        .unwrap();
    assert_eq!(
        rows.header().await.unwrap().unwrap(),
        ["phone_no", "depot_id", "pool_id"]
    );
    let mut seen = Seen::default();
    let mut n = 0u64;
    loop {
        let chunk = rows.next_chunk(1000).await.unwrap();
        if chunk.is_empty() {
            break;
        }
        for row in &chunk {
            assert!(seen.insert(&row.cells[0]), "every number once");
        }
        n += chunk.len() as u64;
    }
    assert_eq!(n, LINES);
    assert_eq!(seen.len() as u64, LINES);
    let grown_mib = (vm_hwm_kib().saturating_sub(before)) as f64 / 1024.0;
    eprintln!(
        "file {:.1} MB, {LINES} lines: peak RSS grew by {grown_mib:.1} MiB",
        size as f64 / 1e6
    );
    // Held whole, the rows alone would be ~150 MB (three Strings a row).
    assert!(grown_mib < 60.0, "peak RSS grew by {grown_mib:.1} MiB");
    let _ = std::fs::remove_dir_all(&root);
}
