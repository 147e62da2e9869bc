//! CPU time of a process from /proc: on a 2-core box the client, the proxy
//! and MariaDB share the CPU, so CPU per query is what decides a ratio.

use std::path::Path;

/// User + system CPU seconds a process has used so far.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_seconds(&stat, clock_ticks())
}

/// utime and stime are fields 14 and 15; the command name (field 2) may hold
/// spaces, so count from the closing parenthesis.
pub fn parse_cpu_seconds(stat: &str, ticks_per_second: f64) -> anyhow::Result<f64> {
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| anyhow::anyhow!("malformed /proc stat line"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // after ')' the fields start at #3 (state), so utime (#14) is index 11.
    let utime: f64 = fields
        .get(11)
        .ok_or_else(|| anyhow::anyhow!("no utime"))?
        .parse()?;
    let stime: f64 = fields
        .get(12)
        .ok_or_else(|| anyhow::anyhow!("no stime"))?
        .parse()?;
    Ok((utime + stime) / ticks_per_second)
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The pid in a pid file.
pub fn read_pid_file(path: &Path) -> anyhow::Result<u32> {
    Ok(std::fs::read_to_string(path)?.trim().parse()?)
}

/// The pid of the first process whose command line starts with `exe`.
pub fn find_pid(exe_suffix: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let first = cmd.split(|b| *b == 0).next()?;
        std::str::from_utf8(first)
            .ok()?
            .ends_with(exe_suffix)
            .then_some(pid)
    })
}

/// Every process whose name (`/proc/<pid>/comm`) is `name`.
pub fn pids_named(name: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (comm.trim_end() == name).then_some(pid)
        })
        .collect()
}

/// CPU seconds of named groups of processes, to split a run's CPU by
/// component (a process that ends meanwhile counts as 0).
pub struct CpuGroups {
    groups: Vec<(&'static str, Vec<u32>)>,
}

impl CpuGroups {
    /// This process, then each name's processes.
    pub fn find(names: &[(&'static str, &str)]) -> CpuGroups {
        let mut groups = vec![("this process", vec![std::process::id()])];
        groups.extend(names.iter().map(|(label, n)| (*label, pids_named(n))));
        CpuGroups { groups }
    }

    pub fn labels(&self) -> Vec<&'static str> {
        self.groups.iter().map(|(l, _)| *l).collect()
    }

    pub fn sample(&self) -> Vec<f64> {
        self.groups
            .iter()
            .map(|(_, pids)| pids.iter().filter_map(|p| cpu_seconds(*p).ok()).sum())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_with_spaces_in_the_name() {
        let line =
            "1234 (haoka proxy) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0";
        assert_eq!(parse_cpu_seconds(line, 100.0).unwrap(), 3.0);
    }

    #[test]
    fn reads_its_own_cpu_time() {
        assert!(cpu_seconds(std::process::id()).unwrap() >= 0.0);
        let g = CpuGroups::find(&[]);
        assert_eq!(g.labels(), vec!["this process"]);
        assert!(g.sample()[0] >= 0.0);
    }
}
