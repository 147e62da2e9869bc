//! Bytes to rows: CSV in UTF-8 (a BOM is allowed) or GBK, told apart by
//! whether the bytes are valid UTF-8 (GBK text almost never is); XLSX
//! through calamine, first sheet. A cell that XLSX stores as a number is
//! marked, so a phone number or ICCID typed as a number is refused rather
//! than taken in rounded.

use std::io::Cursor;

use crate::kinds::naming::Format;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Line of the file (the header is line 1); the row for XLSX.
    pub line_no: u32,
    pub cells: Vec<String>,
    /// Which cells XLSX stored as numbers.
    pub numeric: Vec<bool>,
}

#[derive(Debug)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Row>,
    pub encoding: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the file is neither UTF-8 nor GBK text")]
    Encoding,
    #[error("the CSV is unreadable at line {line}: {message}")]
    Csv { line: u64, message: String },
    #[error("the XLSX workbook is unreadable: {0}")]
    Xlsx(String),
    #[error("the file is empty (no header)")]
    Empty,
}

pub fn decode(bytes: &[u8], format: Format) -> Result<Table, DecodeError> {
    match format {
        Format::Csv => csv(bytes),
        Format::Xlsx => xlsx(bytes),
    }
}

fn text(bytes: &[u8]) -> Result<(std::borrow::Cow<'_, str>, &'static str), DecodeError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok((s.into(), "UTF-8"));
    }
    let (s, had_errors) = encoding_rs::GBK.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(DecodeError::Encoding);
    }
    Ok((s, "GBK"))
}

/// The first row is the header; blank rows (a trailing newline pair, say)
/// are skipped.
fn push(
    header: &mut Option<Vec<String>>,
    rows: &mut Vec<Row>,
    line_no: u32,
    cells: Vec<String>,
    numeric: Vec<bool>,
) {
    if header.is_none() {
        *header = Some(cells);
    } else if !cells.iter().all(|c| c.is_empty()) {
        rows.push(Row {
            line_no,
            cells,
            numeric,
        });
    }
}

fn csv(bytes: &[u8]) -> Result<Table, DecodeError> {
    let (s, encoding) = text(bytes)?;
    let mut r = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(s.as_bytes());
    let mut header = None;
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| DecodeError::Csv {
            line: e.position().map_or(0, |p| p.line()),
            message: e.to_string(),
        })?;
        let line_no = rec.position().map_or(0, |p| p.line()) as u32;
        let cells: Vec<String> = rec.iter().map(|c| c.trim().to_string()).collect();
        let numeric = vec![false; cells.len()];
        push(&mut header, &mut rows, line_no, cells, numeric);
    }
    Ok(Table {
        header: header.ok_or(DecodeError::Empty)?,
        rows,
        encoding,
    })
}

fn xlsx(bytes: &[u8]) -> Result<Table, DecodeError> {
    use calamine::{Data, Reader};
    let mut wb = calamine::Xlsx::new(Cursor::new(bytes.to_vec()))
        .map_err(|e| DecodeError::Xlsx(e.to_string()))?;
    let range = wb
        .worksheet_range_at(0)
        .ok_or(DecodeError::Empty)?
        .map_err(|e| DecodeError::Xlsx(e.to_string()))?;
    let start_row = range.start().map_or(0, |(r, _)| r);
    let mut header = None;
    let mut rows = Vec::new();
    for (i, r) in range.rows().enumerate() {
        let line_no = start_row + i as u32 + 1;
        let mut cells = Vec::with_capacity(r.len());
        let mut numeric = Vec::with_capacity(r.len());
        for c in r {
            let (s, n) = match c {
                Data::String(s) => (s.trim().to_string(), false),
                Data::Empty => (String::new(), false),
                Data::Int(_) | Data::Float(_) => (c.to_string(), true),
                other => (other.to_string(), false),
            };
            cells.push(s);
            numeric.push(n);
        }
        push(&mut header, &mut rows, line_no, cells, numeric);
    }
    Ok(Table {
        header: header.ok_or(DecodeError::Empty)?,
        rows,
        encoding: "XLSX",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_and_gbk() {
        let t = decode("phone_no,name\n13000000000,张三\n".as_bytes(), Format::Csv).unwrap();
        assert_eq!(t.encoding, "UTF-8");
        assert_eq!(t.rows[0].cells[1], "张三");
        assert_eq!(t.rows[0].line_no, 2);
        let (gbk, _, _) = encoding_rs::GBK.encode("phone_no,name\n13000000000,张三\n");
        let t = decode(&gbk, Format::Csv).unwrap();
        assert_eq!(t.encoding, "GBK");
        assert_eq!(t.rows[0].cells[1], "张三");
        assert!(matches!(
            decode(b"a\n\xff\xff\xff\n", Format::Csv),
            Err(DecodeError::Encoding)
        ));
    }
}
