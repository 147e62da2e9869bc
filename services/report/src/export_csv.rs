//! CSV exports: UTF-8 with a byte-order mark (Excel then reads Chinese
//! correctly), a header of Chinese titles, and text cells that a
//! spreadsheet would run as a formula (starting with = + - @, a tab or a
//! carriage return) prefixed with an apostrophe (formula injection).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::export::{ExportError, Sink};
use super::table::{Cell, Column, Row};

pub struct CsvSink {
    w: csv::Writer<BufWriter<File>>,
}

impl CsvSink {
    pub fn create(path: &Path, columns: &[Column]) -> Result<CsvSink, ExportError> {
        let mut file = BufWriter::with_capacity(256 * 1024, File::create(path)?);
        file.write_all("\u{feff}".as_bytes())?;
        let mut w = csv::Writer::from_writer(file);
        w.write_record(columns.iter().map(|c| c.title))?;
        Ok(CsvSink { w })
    }
}

/// The text a spreadsheet shows as-is.
pub fn defuse(s: &str) -> std::borrow::Cow<'_, str> {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{s}").into(),
        _ => s.into(),
    }
}

impl Sink for CsvSink {
    fn row(&mut self, row: &Row) -> Result<(), ExportError> {
        for c in row {
            let text = match c {
                Cell::Text(s) => defuse(s),
                other => other.display(),
            };
            self.w.write_field(text.as_bytes())?;
        }
        // Ends the record the fields above began.
        self.w.write_record(std::iter::empty::<&[u8]>())?;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(), ExportError> {
        let file = self.w.into_inner().map_err(|e| e.into_error())?;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::defuse;

    #[test]
    fn formulas_are_defused_and_codes_are_not() {
        assert_eq!(defuse("=1+1"), "'=1+1");
        assert_eq!(defuse("+86"), "'+86");
        assert_eq!(defuse("-5"), "'-5");
        assert_eq!(defuse("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(defuse("89860112345678901234"), "89860112345678901234");
        assert_eq!(defuse("号码"), "号码");
    }
}
