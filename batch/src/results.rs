//! The answer to a file, in the same drop's results/: `<base>.result.csv`
//! (written by parts while the input is read again) with one row per input
//! line (line, key, outcome, code, reason; ok lines
//! have code `ok` and an empty reason) and `<base>.summary.json` (counts,
//! times, the input's sha256, and for an unusable file why).

use haoka_core::time::Timestamp;
use serde::Serialize;

use crate::decode::Row;
use crate::kinds::LineResult;

pub fn result_name(base: &str) -> String {
    format!("{base}.result.csv")
}

pub fn summary_name(base: &str) -> String {
    format!("{base}.summary.json")
}

/// The result CSV, written as the input is read again: every row in file
/// order, ok unless its job holds a line result for it.
pub struct ResultCsv {
    w: csv::Writer<Vec<u8>>,
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::Writer::from_writer(Vec::with_capacity(64 * 1024))
}

impl Default for ResultCsv {
    fn default() -> Self {
        let mut w = writer();
        // Writing to a Vec cannot fail.
        let _ = w.write_record(["line", "key", "outcome", "code", "reason"]);
        ResultCsv { w }
    }
}

impl ResultCsv {
    pub fn row(&mut self, row: &Row, result: Option<&LineResult>) {
        let line = row.line_no.to_string();
        let _ = match result {
            Some(l) => self
                .w
                .write_record([&line, &l.key, l.outcome.name(), &l.code, &l.reason]),
            None => {
                let key = row.cells.first().map(String::as_str).unwrap_or("");
                self.w.write_record([line.as_str(), key, "ok", "ok", ""])
            }
        };
    }

    /// Bytes written so far and not taken.
    pub fn pending(&mut self) -> usize {
        let _ = self.w.flush();
        self.w.get_ref().len()
    }

    /// The bytes written so far; the next rows go to a fresh buffer.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.w, writer())
            .into_inner()
            .unwrap_or_default()
    }
}

#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub file: &'a str,
    pub source: &'a str,
    pub job_id: i64,
    pub kind: Option<&'a str>,
    pub status: &'a str,
    pub encoding: Option<&'a str>,
    pub total: u64,
    pub ok: u64,
    pub refused: u64,
    pub invalid: u64,
    pub started: Timestamp,
    pub finished: Option<Timestamp>,
    pub sha256: &'a str,
    /// Why the file as a whole was unusable.
    pub failure: Option<&'a str>,
    /// Set when the same file came again and was answered from its job.
    pub answered_again: bool,
}

impl Summary<'_> {
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}
