//! `ResponseWriter`: what a handler uses to answer one client command.
//!
//! Two ways to answer, freely mixed:
//! - synthesized: `ok`, `err`, `begin_result`/`column`/`columns_done`/
//!   `text_row`/`binary_row`/`end_result` from `mysql_common` values;
//! - forwarded: `raw(payload)` appends a backend packet payload as-is with
//!   the client's next sequence id (the hot path: one memcpy, no allocation).
//!
//! Everything is buffered and written with one syscall when the handler
//! returns (or earlier via `maybe_flush` for big results).

use mysql_common::constants::ColumnType;
use mysql_common::packets::Column;
use mysql_common::value::Value;
use tokio::net::TcpStream;

use super::codec::PacketBuf;
use super::consts::*;
use super::packets::{
    encode_bin_value, encode_column, encode_eof, encode_err, encode_ok, encode_text_value, ErrInfo,
    OkInfo,
};

/// Flush threshold for large results, so memory stays bounded.
const FLUSH_AT: usize = 64 * 1024;

/// What was answered to the last statement written (the session keeps
/// ROW_COUNT(), FOUND_ROWS() and the diagnostics of SHOW WARNINGS from it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Answer {
    #[default]
    Nothing,
    Ok {
        affected_rows: u64,
        warnings: u16,
    },
    Rows {
        rows: u64,
        warnings: u16,
    },
    Err(ErrInfo),
}

pub struct ResponseWriter<'a> {
    /// The answer written last (a multi-statement query: its last statement's).
    answer: Answer,
    stream: &'a mut TcpStream,
    out: &'a mut PacketBuf,
    caps: u32,
    status: &'a mut u16,
    start_len: usize,
    flushed_any: bool,
    /// OR-ed into every OK/EOF status while a multi-statement has more to come.
    more_results: u16,
    /// (name, replacement) pairs applied to every error message written.
    renames: Option<std::sync::Arc<[(String, String)]>>,
}

impl<'a> ResponseWriter<'a> {
    pub(crate) fn new(
        stream: &'a mut TcpStream,
        out: &'a mut PacketBuf,
        caps: u32,
        status: &'a mut u16,
    ) -> Self {
        let start_len = out.len();
        ResponseWriter {
            answer: Answer::Nothing,
            stream,
            out,
            caps,
            status,
            start_len,
            flushed_any: false,
            more_results: 0,
            renames: None,
        }
    }

    /// Capabilities negotiated with the client.
    pub fn capabilities(&self) -> u32 {
        self.caps
    }

    /// Whether the client negotiated CLIENT_DEPRECATE_EOF.
    pub fn deprecate_eof(&self) -> bool {
        self.caps & CLIENT_DEPRECATE_EOF != 0
    }

    /// Session status flags used by synthesized OK/EOF packets
    /// (SERVER_STATUS_IN_TRANS, AUTOCOMMIT, ...). The handler keeps them
    /// current, e.g. from the status of the last backend OK.
    pub fn status(&self) -> u16 {
        *self.status
    }

    pub fn set_status(&mut self, status: u16) {
        *self.status = status;
    }

    /// True once anything was written for the current command.
    pub fn has_written(&self) -> bool {
        self.flushed_any || self.out.len() > self.start_len
    }

    /// Next sequence id to be used.
    pub fn seq(&self) -> u8 {
        self.out.seq
    }

    /// What the last statement was answered (and forgets it).
    pub fn take_answer(&mut self) -> Answer {
        std::mem::take(&mut self.answer)
    }

    /// A forwarded row of the current result set (counted for FOUND_ROWS()).
    #[inline]
    pub fn raw_row(&mut self, payload: &[u8]) {
        if let Answer::Rows { rows, .. } = &mut self.answer {
            *rows += 1;
        }
        self.out.push(payload);
    }

    fn count_row(&mut self) {
        if let Answer::Rows { rows, .. } = &mut self.answer {
            *rows += 1;
        }
    }

    // ---- forwarding -------------------------------------------------------

    /// Appends a packet payload received from a backend, unchanged but for
    /// the sequence id.
    #[inline]
    pub fn raw(&mut self, payload: &[u8]) {
        self.out.push(payload);
    }

    // ---- synthesized ------------------------------------------------------

    /// While on, every OK/EOF written says SERVER_MORE_RESULTS_EXISTS (the
    /// statements of a multi-statement query before the last one).
    pub fn set_more_results(&mut self, on: bool) {
        self.more_results = if on { SERVER_MORE_RESULTS_EXISTS } else { 0 };
    }

    pub fn ok(&mut self, ok: &OkInfo) {
        self.answer = Answer::Ok {
            affected_rows: ok.affected_rows,
            warnings: ok.warnings,
        };
        let s = self.out.begin();
        if self.more_results != 0 {
            let mut ok = ok.clone();
            ok.status |= self.more_results;
            encode_ok(&mut self.out.buf, 0x00, &ok);
        } else {
            encode_ok(&mut self.out.buf, 0x00, ok);
        }
        self.out.finish(s);
    }

    /// OK with the session status and no info text.
    pub fn ok_simple(&mut self, affected_rows: u64, last_insert_id: u64) {
        let ok = OkInfo {
            affected_rows,
            last_insert_id,
            status: *self.status,
            ..Default::default()
        };
        self.ok(&ok);
    }

    /// Error messages written from now on have each name replaced (whole
    /// words only): a proxy shows logical names instead of physical ones.
    pub fn rename_in_errors(&mut self, renames: std::sync::Arc<[(String, String)]>) {
        self.renames = Some(renames);
    }

    pub fn err(&mut self, e: &ErrInfo) {
        let renamed;
        let e = match &self.renames {
            Some(names) if names.iter().any(|(n, _)| e.message.contains(n.as_str())) => {
                renamed = ErrInfo {
                    message: replace_words(&e.message, names),
                    ..e.clone()
                };
                &renamed
            }
            _ => e,
        };
        self.answer = Answer::Err(e.clone());
        let s = self.out.begin();
        encode_err(&mut self.out.buf, e);
        self.out.finish(s);
    }

    /// Raw EOF packet (only meaningful for clients without DEPRECATE_EOF).
    pub fn eof(&mut self, warnings: u16, status: u16) {
        let status = status | self.more_results;
        let s = self.out.begin();
        encode_eof(&mut self.out.buf, warnings, status);
        self.out.finish(s);
    }

    /// Result set header: the column count.
    pub fn begin_result(&mut self, columns: usize) {
        self.answer = Answer::Rows {
            rows: 0,
            warnings: 0,
        };
        let s = self.out.begin();
        mysql_common::io::BufMutExt::put_lenenc_int(&mut self.out.buf, columns as u64);
        self.out.finish(s);
    }

    /// One column definition.
    pub fn column(&mut self, col: &Column) {
        let s = self.out.begin();
        encode_column(&mut self.out.buf, col);
        self.out.finish(s);
    }

    /// Ends a block of column (or param) definitions: an EOF packet unless the
    /// client uses DEPRECATE_EOF.
    pub fn columns_done(&mut self) {
        if !self.deprecate_eof() {
            self.eof(0, *self.status);
        }
    }

    pub fn text_row(&mut self, row: &[Value]) {
        self.count_row();
        let s = self.out.begin();
        for v in row {
            encode_text_value(&mut self.out.buf, v);
        }
        self.out.finish(s);
    }

    /// Binary row; `types[i]` is the type announced for column i.
    pub fn binary_row(&mut self, types: &[ColumnType], row: &[Value]) {
        self.count_row();
        let s = self.out.begin();
        let buf = &mut self.out.buf;
        buf.push(0x00);
        let bm_start = buf.len();
        buf.resize(bm_start + (row.len() + 7 + 2) / 8, 0);
        for (i, v) in row.iter().enumerate() {
            if matches!(v, Value::NULL) {
                let bit = i + 2;
                buf[bm_start + bit / 8] |= 1 << (bit % 8);
            } else {
                let ty = types
                    .get(i)
                    .copied()
                    .unwrap_or(ColumnType::MYSQL_TYPE_VAR_STRING);
                encode_bin_value(buf, ty, v);
            }
        }
        self.out.finish(s);
    }

    /// Result set terminator: OK(0xFE) with DEPRECATE_EOF, EOF otherwise.
    pub fn end_result(&mut self, warnings: u16, status: u16) {
        if let Answer::Rows { warnings: w, .. } = &mut self.answer {
            *w = warnings;
        }
        let status = status | self.more_results;
        if self.deprecate_eof() {
            let ok = OkInfo {
                status,
                warnings,
                ..Default::default()
            };
            let s = self.out.begin();
            encode_ok(&mut self.out.buf, 0xfe, &ok);
            self.out.finish(s);
        } else {
            self.eof(warnings, status);
        }
    }

    /// A whole text result set in one call.
    pub fn text_result(&mut self, columns: &[Column], rows: &[Vec<Value>]) {
        self.begin_result(columns.len());
        for c in columns {
            self.column(c);
        }
        self.columns_done();
        for r in rows {
            self.text_row(r);
        }
        let st = *self.status;
        self.end_result(0, st);
    }

    /// COM_STMT_PREPARE_OK header. Follow it with `num_params` definitions +
    /// `columns_done()` (if > 0) and `num_columns` definitions +
    /// `columns_done()` (if > 0).
    pub fn prepare_ok(&mut self, stmt_id: u32, num_columns: u16, num_params: u16, warnings: u16) {
        let s = self.out.begin();
        let b = &mut self.out.buf;
        b.push(0x00);
        b.extend_from_slice(&stmt_id.to_le_bytes());
        b.extend_from_slice(&num_columns.to_le_bytes());
        b.extend_from_slice(&num_params.to_le_bytes());
        b.push(0);
        b.extend_from_slice(&warnings.to_le_bytes());
        self.out.finish(s);
    }

    // ---- flushing ---------------------------------------------------------

    /// Flushes if the buffer grew past the threshold; call it inside row
    /// loops so huge results stream instead of piling up.
    #[inline]
    pub async fn maybe_flush(&mut self) -> std::io::Result<()> {
        if self.out.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.len() > self.start_len {
            self.flushed_any = true;
        }
        self.start_len = 0;
        self.out.flush(self.stream).await
    }
}

/// `text` with every whole-word occurrence of each name replaced (names
/// tried in order, so a longer name listed first wins over its prefix).
pub fn replace_words(text: &str, names: &[(String, String)]) -> String {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let boundary_before = i == 0 || !word(bytes[i - 1]);
        let hit = boundary_before
            .then(|| {
                names.iter().find(|(n, _)| {
                    bytes[i..].starts_with(n.as_bytes())
                        && bytes.get(i + n.len()).is_none_or(|b| !word(*b))
                })
            })
            .flatten();
        match hit {
            Some((n, logical)) => {
                out.push_str(&text[copied..i]);
                out.push_str(logical);
                i += n.len();
                copied = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// A column definition for synthesized results.
pub fn simple_column(name: &str, ty: ColumnType) -> Column {
    use mysql_common::constants::ColumnFlags;
    let binary = !matches!(
        ty,
        ColumnType::MYSQL_TYPE_VAR_STRING
            | ColumnType::MYSQL_TYPE_STRING
            | ColumnType::MYSQL_TYPE_VARCHAR
    );
    Column::new(ty)
        .with_name(name.as_bytes())
        .with_org_name(name.as_bytes())
        .with_character_set(if binary {
            63
        } else {
            UTF8MB4_GENERAL_CI as u16
        })
        .with_column_length(if binary { 21 } else { 1024 })
        .with_flags(if binary {
            ColumnFlags::BINARY_FLAG
        } else {
            ColumnFlags::empty()
        })
}
