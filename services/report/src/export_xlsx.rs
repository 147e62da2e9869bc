//! XLSX exports (rust_xlsxwriter in constant-memory mode: each row goes to
//! a temporary file as it is written). Codes stay text (an ICCID of 20
//! digits as a number would lose its last digits), the header row has
//! the Chinese titles and stays frozen, columns get widths, and an export
//! longer than a sheet holds goes on to the next sheet. A trend template
//! also gets a chart sheet (`export_chart`).

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Format, Workbook};

use super::export::{ExportError, Sink};
use super::export_chart::{Trend, TrendSums};
use super::table::{Cell, Column, Kind, Row};

pub struct XlsxSink {
    wb: Workbook,
    path: PathBuf,
    title: String,
    columns: Vec<Column>,
    /// Index of the sheet being written, and its next row.
    sheet: usize,
    row: u32,
    rows_per_sheet: u32,
    text: Format,
    header: Format,
    trend: Option<TrendSums>,
}

/// A column's width in characters: wide enough for its codes.
fn width(c: &Column) -> f64 {
    let min = match c.key {
        "iccid" => 24.0,
        "imsi" => 18.0,
        "phone_no" | "paired_phone_no" => 14.0,
        _ => 10.0,
    };
    // A Chinese character is about two columns wide.
    let title = c
        .title
        .chars()
        .map(|ch| if ch.is_ascii() { 1.0 } else { 2.0 })
        .sum::<f64>();
    f64::max(min, title + 2.0)
}

impl XlsxSink {
    pub fn create(
        path: &Path,
        title: &str,
        columns: &[Column],
        rows_per_sheet: u32,
        trend: Option<Trend>,
    ) -> Result<XlsxSink, ExportError> {
        let mut wb = Workbook::new();
        if let Some(dir) = path.parent() {
            wb.set_tempdir(dir)?;
        }
        let mut s = XlsxSink {
            wb,
            path: path.to_path_buf(),
            title: title.to_string(),
            columns: columns.to_vec(),
            sheet: 0,
            row: 0,
            rows_per_sheet: rows_per_sheet.clamp(1, 1_048_575),
            text: Format::new().set_num_format("@"),
            header: Format::new().set_bold(),
            trend: trend.map(TrendSums::new),
        };
        s.new_sheet(false)?;
        Ok(s)
    }

    fn new_sheet(&mut self, next: bool) -> Result<(), ExportError> {
        if next {
            self.sheet += 1;
        }
        let name = if self.sheet == 0 {
            self.title.clone()
        } else {
            format!("{}({})", self.title, self.sheet + 1)
        };
        let ws = self.wb.add_worksheet_with_constant_memory()?;
        ws.set_name(name)?;
        for (i, c) in self.columns.iter().enumerate() {
            let col = i as u16;
            ws.set_column_width(col, width(c))?;
            ws.write_string_with_format(0, col, c.title, &self.header)?;
        }
        ws.set_freeze_panes(1, 0)?;
        self.row = 1;
        Ok(())
    }
}

impl Sink for XlsxSink {
    fn row(&mut self, row: &Row) -> Result<(), ExportError> {
        if self.row > self.rows_per_sheet {
            self.new_sheet(true)?;
        }
        let r = self.row;
        let ws = self.wb.worksheet_from_index(self.sheet)?;
        for (i, (cell, c)) in row.iter().zip(&self.columns).enumerate() {
            let col = i as u16;
            match (cell, c.kind) {
                (Cell::Null, _) => {}
                // Counts and sums are far below 2^53: exact as a number.
                (Cell::Int(v), Kind::Int) => {
                    ws.write_number(r, col, *v as f64)?;
                }
                (other, _) => {
                    ws.write_string_with_format(r, col, other.display(), &self.text)?;
                }
            }
        }
        self.row += 1;
        if let Some(t) = &mut self.trend {
            t.add(row);
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), ExportError> {
        if let Some(t) = &self.trend {
            t.write(&mut self.wb, &self.columns, &self.title)?;
        }
        self.wb.save(&self.path)?;
        Ok(())
    }
}
