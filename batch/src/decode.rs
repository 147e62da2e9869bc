//! Bytes to rows, incrementally: a file is never held whole (a 1,000,000
//! line intake would be hundreds of MB as rows). CSV is UTF-8 (a BOM is
//! allowed) or GBK — which one `scan` decides in its pass over the whole
//! file, by whether the bytes are valid UTF-8 (GBK text almost never is) —
//! decoded chunk by chunk (encoding_rs) and split into records by csv-core
//! as the bytes arrive. XLSX is a zip (its directory is at the end), so
//! calamine needs the whole workbook: XLSX files are read whole (a sheet
//! holds at most 1,048,576 rows). A cell that XLSX stores as a number is
//! marked, so a phone number or ICCID typed as a number is refused rather
//! than taken in rounded.

use std::collections::VecDeque;
use std::io::Cursor;

use encoding_rs::{Decoder, Encoding as Enc, GBK, UTF_8};

use crate::kinds::naming::Format;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Line of the file (the header is line 1); the row for XLSX.
    pub line_no: u32,
    pub cells: Vec<String>,
    /// Which cells XLSX stored as numbers.
    pub numeric: Vec<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the file is neither UTF-8 nor GBK text")]
    Encoding,
    #[error("the XLSX workbook is unreadable: {0}")]
    Xlsx(String),
    #[error("the file is empty (no header)")]
    Empty,
}

/// A text encoding a CSV may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Gbk,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Gbk => "GBK",
        }
    }

    fn decoder(self) -> Decoder {
        match self {
            Encoding::Utf8 => UTF_8.new_decoder_with_bom_removal(),
            Encoding::Gbk => GBK.new_decoder_without_bom_handling(),
        }
    }
}

/// Whether a byte stream decodes cleanly in one encoding, fed in chunks.
pub struct CleanCheck {
    dec: Decoder,
    scratch: Vec<u8>,
    clean: bool,
}

impl CleanCheck {
    fn new(enc: &'static Enc) -> CleanCheck {
        CleanCheck {
            dec: enc.new_decoder_without_bom_handling(),
            scratch: vec![0; 64 * 1024],
            clean: true,
        }
    }

    pub fn feed(&mut self, mut src: &[u8], last: bool) {
        while self.clean {
            let (r, read, _) =
                self.dec
                    .decode_to_utf8_without_replacement(src, &mut self.scratch, last);
            src = &src[read..];
            match r {
                encoding_rs::DecoderResult::InputEmpty => break,
                encoding_rs::DecoderResult::OutputFull => continue,
                encoding_rs::DecoderResult::Malformed(..) => self.clean = false,
            }
        }
    }
}

/// Tells UTF-8 from GBK over a whole file, chunk by chunk.
pub struct EncodingCheck {
    utf8: CleanCheck,
    gbk: CleanCheck,
}

impl Default for EncodingCheck {
    fn default() -> Self {
        EncodingCheck {
            utf8: CleanCheck::new(UTF_8),
            gbk: CleanCheck::new(GBK),
        }
    }
}

impl EncodingCheck {
    pub fn feed(&mut self, chunk: &[u8]) {
        self.utf8.feed(chunk, false);
        // GBK is only needed when UTF-8 already failed somewhere; both run
        // from the start because a decoder cannot go back.
        self.gbk.feed(chunk, false);
    }

    /// UTF-8 if the whole file is, else GBK if it is, else none.
    pub fn finish(mut self) -> Option<Encoding> {
        self.utf8.feed(&[], true);
        self.gbk.feed(&[], true);
        if self.utf8.clean {
            Some(Encoding::Utf8)
        } else if self.gbk.clean {
            Some(Encoding::Gbk)
        } else {
            None
        }
    }
}

/// CSV records from chunks of text, as they arrive.
struct CsvFeed {
    dec: Decoder,
    rdr: csv_core::Reader,
    text: Vec<u8>,
    out: Vec<u8>,
    out_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    header: Option<Vec<String>>,
}

impl CsvFeed {
    fn new(enc: Encoding) -> CsvFeed {
        CsvFeed {
            dec: enc.decoder(),
            rdr: csv_core::Reader::new(),
            text: Vec::new(),
            out: vec![0; 4096],
            out_len: 0,
            ends: vec![0; 64],
            ends_len: 0,
            header: None,
        }
    }

    /// Decodes `bytes` (`last`: the file ends here) and parses what it can.
    fn feed(&mut self, bytes: &[u8], last: bool, rows: &mut VecDeque<Row>) {
        // Room for the worst case: the decoder then takes all of `bytes`
        // (the scan proved the file decodes, so nothing is replaced).
        let room = self
            .dec
            .max_utf8_buffer_length(bytes.len())
            .unwrap_or(bytes.len() * 3 + 16);
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        text.resize(room, 0);
        let (_, _read, written, _) = self.dec.decode_to_utf8(bytes, &mut text, last);
        text.truncate(written);
        // Never an empty slice mid-file: csv-core would take it for the end
        // (a chunk can end inside a character the decoder keeps for later).
        if !text.is_empty() {
            self.parse(&text, rows);
        }
        if last {
            self.parse(&[], rows);
        }
        self.text = text;
    }

    /// Splits records off `input`; an empty `input` means the end.
    fn parse(&mut self, mut input: &[u8], rows: &mut VecDeque<Row>) {
        let at_end = input.is_empty();
        loop {
            let (r, nin, nout, nend) = self.rdr.read_record(
                input,
                &mut self.out[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            // csv-core returns a record as it reads its terminator.
            let newline_ended = nin > 0 && input[nin - 1] == b'\n';
            input = &input[nin..];
            self.out_len += nout;
            self.ends_len += nend;
            match r {
                csv_core::ReadRecordResult::InputEmpty | csv_core::ReadRecordResult::End => return,
                csv_core::ReadRecordResult::OutputFull => {
                    let n = self.out.len() * 2;
                    self.out.resize(n, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    self.record(newline_ended, rows);
                    // An empty input would tell csv-core the file ended.
                    if input.is_empty() && !at_end {
                        return;
                    }
                }
            }
        }
    }

    /// Takes the record just read. Its line is where it began: the line
    /// csv-core is on, less its terminator and the newlines inside quoted
    /// fields (blank lines before it are skipped, not counted as its own).
    fn record(&mut self, newline_ended: bool, rows: &mut VecDeque<Row>) {
        let mut cells = Vec::with_capacity(self.ends_len);
        let mut from = 0;
        for &end in &self.ends[..self.ends_len] {
            // Valid UTF-8 in, UTF-8 out (csv-core splits only at ASCII bytes).
            cells.push(
                String::from_utf8_lossy(&self.out[from..end])
                    .trim()
                    .to_string(),
            );
            from = end;
        }
        let inside = self.out[..self.out_len]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        let line_no = (self.rdr.line() - u64::from(newline_ended) - inside) as u32;
        self.out_len = 0;
        self.ends_len = 0;
        let numeric = vec![false; cells.len()];
        push(&mut self.header, rows, line_no, cells, numeric);
    }
}

/// The first row is the header; blank rows (`,,`, say) are skipped.
fn push(
    header: &mut Option<Vec<String>>,
    rows: &mut VecDeque<Row>,
    line_no: u32,
    cells: Vec<String>,
    numeric: Vec<bool>,
) {
    if header.is_none() {
        *header = Some(cells);
    } else if !cells.iter().all(|c| c.is_empty()) {
        rows.push_back(Row {
            line_no,
            cells,
            numeric,
        });
    }
}

/// Rows of a file as its bytes come in: hand it chunks with `feed`, take
/// rows with `take`; the header is the first record.
pub struct RowFeed {
    inner: Inner,
    rows: VecDeque<Row>,
    finished: bool,
}

enum Inner {
    Csv(Box<CsvFeed>),
    /// XLSX: the workbook's bytes until the end, then its rows.
    Xlsx {
        bytes: Vec<u8>,
        header: Option<Vec<String>>,
    },
}

impl RowFeed {
    /// `encoding` as `scan` found it (CSV only).
    pub fn new(format: Format, encoding: Encoding) -> RowFeed {
        RowFeed {
            inner: match format {
                Format::Csv => Inner::Csv(Box::new(CsvFeed::new(encoding))),
                Format::Xlsx => Inner::Xlsx {
                    bytes: Vec::new(),
                    header: None,
                },
            },
            rows: VecDeque::new(),
            finished: false,
        }
    }

    /// The next bytes of the file.
    pub fn feed(&mut self, chunk: &[u8]) {
        match &mut self.inner {
            Inner::Csv(c) => c.feed(chunk, false, &mut self.rows),
            Inner::Xlsx { bytes, .. } => bytes.extend_from_slice(chunk),
        }
    }

    /// The file ended.
    pub fn finish(&mut self) -> Result<(), DecodeError> {
        self.finished = true;
        match &mut self.inner {
            Inner::Csv(c) => {
                c.feed(&[], true, &mut self.rows);
                Ok(())
            }
            Inner::Xlsx { bytes, header } => {
                let bytes = std::mem::take(bytes);
                xlsx(&bytes, header, &mut self.rows)
            }
        }
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The header, once read (for XLSX: after `finish`).
    pub fn header(&self) -> Option<&[String]> {
        match &self.inner {
            Inner::Csv(c) => c.header.as_deref(),
            Inner::Xlsx { header, .. } => header.as_deref(),
        }
    }

    /// Rows parsed and not yet taken.
    pub fn buffered(&self) -> usize {
        self.rows.len()
    }

    /// Up to `n` parsed rows.
    pub fn take(&mut self, n: usize) -> Vec<Row> {
        let n = n.min(self.rows.len());
        self.rows.drain(..n).collect()
    }
}

fn xlsx(
    bytes: &[u8],
    header: &mut Option<Vec<String>>,
    rows: &mut VecDeque<Row>,
) -> Result<(), DecodeError> {
    use calamine::{Data, Reader};
    let mut wb =
        calamine::Xlsx::new(Cursor::new(bytes)).map_err(|e| DecodeError::Xlsx(e.to_string()))?;
    let range = wb
        .worksheet_range_at(0)
        .ok_or(DecodeError::Empty)?
        .map_err(|e| DecodeError::Xlsx(e.to_string()))?;
    let start_row = range.start().map_or(0, |(r, _)| r);
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
        push(header, rows, line_no, cells, numeric);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoding_of(bytes: &[u8], step: usize) -> Option<Encoding> {
        let mut c = EncodingCheck::default();
        for ch in bytes.chunks(step) {
            c.feed(ch);
        }
        c.finish()
    }

    /// Every split of the bytes gives the same rows.
    fn rows_of(bytes: &[u8], enc: Encoding, step: usize) -> (Vec<String>, Vec<Row>) {
        let mut f = RowFeed::new(Format::Csv, enc);
        let mut rows = Vec::new();
        for ch in bytes.chunks(step) {
            f.feed(ch);
            rows.extend(f.take(usize::MAX));
        }
        f.finish().unwrap();
        rows.extend(f.take(usize::MAX));
        (f.header().unwrap().to_vec(), rows)
    }

    #[test]
    fn utf8_and_gbk_in_any_chunks() {
        let text = "\u{feff}phone_no,name\n13000000000,张三\n\n13000000001,\"李,四\"\n13000000002,\"王\n五\"\r\n13000000003,x";
        let (gbk, _, _) = GBK.encode(text.trim_start_matches('\u{feff}'));
        for step in [1, 2, 3, 7, 4096] {
            assert_eq!(encoding_of(text.as_bytes(), step), Some(Encoding::Utf8));
            assert_eq!(encoding_of(&gbk, step), Some(Encoding::Gbk));
            for (bytes, enc) in [(text.as_bytes(), Encoding::Utf8), (&gbk[..], Encoding::Gbk)] {
                let (h, rows) = rows_of(bytes, enc, step);
                assert_eq!(h, ["phone_no", "name"], "step {step}");
                assert_eq!(rows.len(), 4, "step {step}");
                assert_eq!(rows[0].cells, ["13000000000", "张三"]);
                assert_eq!(rows[0].line_no, 2);
                assert_eq!(rows[1].cells, ["13000000001", "李,四"]);
                assert_eq!(rows[1].line_no, 4);
                // a quoted newline, a CRLF
                assert_eq!(rows[2].cells, ["13000000002", "王\n五"]);
                assert_eq!(rows[2].line_no, 5);
                // no trailing newline: the last line still counts
                assert_eq!(rows[3].cells, ["13000000003", "x"]);
                assert_eq!(rows[3].line_no, 7);
            }
        }
        assert_eq!(encoding_of(b"a\n\xff\xff\xff\n", 2), None);
    }

    #[test]
    fn a_long_field_grows_the_buffers() {
        let long = "x".repeat(10_000);
        let many = vec!["y"; 200].join(",");
        let text = format!("a,b\n{long},1\n{many}\n");
        let (_, rows) = rows_of(text.as_bytes(), Encoding::Utf8, 333);
        assert_eq!(rows[0].cells[0].len(), 10_000);
        assert_eq!(rows[1].cells.len(), 200);
    }
}
