//! Encoders for server packets (OK, ERR, EOF, column definitions, rows) and
//! small parse helpers. Encoders append to a `Vec<u8>` payload in place.

use mysql_common::constants::ColumnType;
use mysql_common::io::BufMutExt;
use mysql_common::packets::Column;
use mysql_common::value::Value;

/// What an OK packet carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OkInfo {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: u16,
    pub warnings: u16,
    pub info: String,
}

/// A server error as sent on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrInfo {
    pub code: u16,
    pub state: [u8; 5],
    pub message: String,
}

impl ErrInfo {
    pub fn new(code: u16, state: &str, message: impl Into<String>) -> Self {
        let mut s = [b'H', b'Y', b'0', b'0', b'0'];
        if state.len() == 5 {
            s.copy_from_slice(state.as_bytes());
        }
        ErrInfo {
            code,
            state: s,
            message: message.into(),
        }
    }

    pub fn state_str(&self) -> &str {
        std::str::from_utf8(&self.state).unwrap_or("HY000")
    }
}

impl std::fmt::Display for ErrInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ERROR {} ({}): {}",
            self.code,
            self.state_str(),
            self.message
        )
    }
}

/// OK packet payload; `header` is 0x00, or 0xFE for a DEPRECATE_EOF result
/// set terminator.
pub fn encode_ok(buf: &mut Vec<u8>, header: u8, ok: &OkInfo) {
    buf.push(header);
    buf.put_lenenc_int(ok.affected_rows);
    buf.put_lenenc_int(ok.last_insert_id);
    buf.extend_from_slice(&ok.status.to_le_bytes());
    buf.extend_from_slice(&ok.warnings.to_le_bytes());
    buf.extend_from_slice(ok.info.as_bytes());
}

pub fn encode_err(buf: &mut Vec<u8>, err: &ErrInfo) {
    buf.push(0xff);
    buf.extend_from_slice(&err.code.to_le_bytes());
    buf.push(b'#');
    buf.extend_from_slice(&err.state);
    buf.extend_from_slice(err.message.as_bytes());
}

pub fn encode_eof(buf: &mut Vec<u8>, warnings: u16, status: u16) {
    buf.push(0xfe);
    buf.extend_from_slice(&warnings.to_le_bytes());
    buf.extend_from_slice(&status.to_le_bytes());
}

/// ColumnDefinition41 payload. Written here, not with mysql_common's
/// `Column` serialisation, which (0.37) puts column_length before
/// character_set: the wire order is catalog, schema, table, org_table, name,
/// org_name, 0x0c, character_set (2), column_length (4), type (1), flags (2),
/// decimals (1), filler (2).
pub fn encode_column(buf: &mut Vec<u8>, col: &Column) {
    buf.put_lenenc_str(b"def");
    buf.put_lenenc_str(col.schema_ref());
    buf.put_lenenc_str(col.table_ref());
    buf.put_lenenc_str(col.org_table_ref());
    buf.put_lenenc_str(col.name_ref());
    buf.put_lenenc_str(col.org_name_ref());
    buf.push(0x0c);
    buf.extend_from_slice(&col.character_set().to_le_bytes());
    buf.extend_from_slice(&col.column_length().to_le_bytes());
    buf.push(col.column_type() as u8);
    buf.extend_from_slice(&col.flags().bits().to_le_bytes());
    buf.push(col.decimals());
    buf.extend_from_slice(&[0, 0]);
}

/// Text protocol value (one column of a text row).
pub fn encode_text_value(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::NULL => buf.push(0xfb),
        Value::Bytes(b) => buf.put_lenenc_str(b),
        other => {
            // Render into a small stack buffer, then length-prefix.
            let mut tmp = [0u8; 64];
            let n = {
                let mut c = std::io::Cursor::new(&mut tmp[..]);
                write_text_scalar(&mut c, other);
                c.position() as usize
            };
            buf.put_lenenc_str(&tmp[..n]);
        }
    }
}

fn write_text_scalar(w: &mut impl std::io::Write, v: &Value) {
    let _ = match *v {
        Value::Int(x) => write!(w, "{x}"),
        Value::UInt(x) => write!(w, "{x}"),
        Value::Float(x) => write!(w, "{x}"),
        Value::Double(x) => write!(w, "{x}"),
        Value::Date(y, m, d, 0, 0, 0, 0) => write!(w, "{y:04}-{m:02}-{d:02}"),
        Value::Date(y, m, d, h, i, s, 0) => write!(w, "{y:04}-{m:02}-{d:02} {h:02}:{i:02}:{s:02}"),
        Value::Date(y, m, d, h, i, s, u) => {
            write!(w, "{y:04}-{m:02}-{d:02} {h:02}:{i:02}:{s:02}.{u:06}")
        }
        Value::Time(neg, days, h, i, s, u) => {
            let sign = if neg { "-" } else { "" };
            let hours = days * 24 + h as u32;
            if u == 0 {
                write!(w, "{sign}{hours:02}:{i:02}:{s:02}")
            } else {
                write!(w, "{sign}{hours:02}:{i:02}:{s:02}.{u:06}")
            }
        }
        Value::NULL | Value::Bytes(_) => Ok(()),
    };
}

/// Binary protocol value laid out for `ty` (the type announced in the column
/// definition), converting when the `Value` variant does not match.
pub fn encode_bin_value(buf: &mut Vec<u8>, ty: ColumnType, v: &Value) {
    use ColumnType::*;
    let int = match *v {
        Value::Int(x) => Some(x),
        Value::UInt(x) => Some(x as i64),
        _ => None,
    };
    match (ty, int) {
        (MYSQL_TYPE_TINY, Some(x)) => buf.push(x as u8),
        (MYSQL_TYPE_SHORT | MYSQL_TYPE_YEAR, Some(x)) => {
            buf.extend_from_slice(&(x as u16).to_le_bytes())
        }
        (MYSQL_TYPE_LONG | MYSQL_TYPE_INT24, Some(x)) => {
            buf.extend_from_slice(&(x as u32).to_le_bytes())
        }
        (MYSQL_TYPE_LONGLONG, Some(x)) => buf.extend_from_slice(&x.to_le_bytes()),
        (MYSQL_TYPE_DOUBLE, _) | (MYSQL_TYPE_FLOAT, _) => {
            let f = match *v {
                Value::Double(f) => f,
                Value::Float(f) => f as f64,
                Value::Int(i) => i as f64,
                Value::UInt(u) => u as f64,
                Value::Bytes(ref b) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0.0),
                _ => 0.0,
            };
            if ty == MYSQL_TYPE_FLOAT {
                buf.extend_from_slice(&(f as f32).to_le_bytes());
            } else {
                buf.extend_from_slice(&f.to_le_bytes());
            }
        }
        (MYSQL_TYPE_DATE | MYSQL_TYPE_DATETIME | MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIME, _)
            if matches!(v, Value::Date(..) | Value::Time(..)) =>
        {
            mysql_common::proto::MySerialize::serialize(v, buf)
        }
        _ => match v {
            Value::Bytes(b) => buf.put_lenenc_str(b),
            other => encode_text_value(buf, other),
        },
    }
}

/// Natural column type for a value, for synthesized result sets.
pub fn column_type_of(v: &Value) -> ColumnType {
    match v {
        Value::NULL => ColumnType::MYSQL_TYPE_NULL,
        Value::Bytes(_) => ColumnType::MYSQL_TYPE_VAR_STRING,
        Value::Int(_) | Value::UInt(_) => ColumnType::MYSQL_TYPE_LONGLONG,
        Value::Float(_) => ColumnType::MYSQL_TYPE_FLOAT,
        Value::Double(_) => ColumnType::MYSQL_TYPE_DOUBLE,
        Value::Date(..) => ColumnType::MYSQL_TYPE_DATETIME,
        Value::Time(..) => ColumnType::MYSQL_TYPE_TIME,
    }
}

/// Parses an ERR packet payload (starting with 0xFF).
pub fn parse_err(p: &[u8]) -> ErrInfo {
    if p.len() < 3 {
        return ErrInfo::new(2027, "HY000", "Malformed ERR packet");
    }
    let code = u16::from_le_bytes([p[1], p[2]]);
    let (state, msg) = if p.len() >= 9 && p[3] == b'#' {
        (&p[4..9], &p[9..])
    } else {
        (&b"HY000"[..], &p[3..])
    };
    let mut s = [0u8; 5];
    s.copy_from_slice(state);
    ErrInfo {
        code,
        state: s,
        message: String::from_utf8_lossy(msg).into_owned(),
    }
}

/// Parses an OK packet payload (header 0x00 or 0xFE), without session track.
pub fn parse_ok(p: &[u8]) -> Option<OkInfo> {
    let mut r = Reader::new(p.get(1..)?);
    let affected_rows = r.lenenc()?;
    let last_insert_id = r.lenenc()?;
    let status = r.u16().unwrap_or(0);
    let warnings = r.u16().unwrap_or(0);
    let info = String::from_utf8_lossy(r.rest()).into_owned();
    Some(OkInfo {
        affected_rows,
        last_insert_id,
        status,
        warnings,
        info,
    })
}

/// Bounds-checked little-endian cursor: every getter returns `None` past the
/// end, so malformed client input can never panic.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b }
    }
    pub fn is_empty(&self) -> bool {
        self.b.is_empty()
    }
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn lenenc(&mut self) -> Option<u64> {
        match self.u8()? {
            x @ 0..=0xfa => Some(x as u64),
            0xfc => self
                .take(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as u64),
            0xfd => self
                .take(3)
                .map(|b| b[0] as u64 | (b[1] as u64) << 8 | (b[2] as u64) << 16),
            0xfe => self
                .take(8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))),
            _ => None,
        }
    }
    pub fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.lenenc()?;
        self.take(usize::try_from(n).ok()?)
    }
    /// NUL-terminated string (a missing NUL takes the rest).
    pub fn null_str(&mut self) -> &'a [u8] {
        match self.b.iter().position(|&c| c == 0) {
            Some(i) => {
                let s = &self.b[..i];
                self.b = &self.b[i + 1..];
                s
            }
            None => self.rest(),
        }
    }
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_definition_has_charset_before_length() {
        use mysql_common::constants::ColumnFlags;
        let col = Column::new(ColumnType::MYSQL_TYPE_VAR_STRING)
            .with_schema(b"s")
            .with_table(b"t")
            .with_org_table(b"ot")
            .with_name(b"n")
            .with_org_name(b"on")
            .with_character_set(45)
            .with_column_length(4 * 64)
            .with_flags(ColumnFlags::NOT_NULL_FLAG)
            .with_decimals(0);
        let mut b = Vec::new();
        encode_column(&mut b, &col);
        let fixed = &b[b.len() - 13..];
        assert_eq!(
            fixed,
            &[0x0c, 45, 0, 0, 1, 0, 0, 253, 1, 0, 0, 0, 0],
            "charset 45, length 256, VAR_STRING, NOT NULL"
        );
        assert_eq!(&b[..4], b"\x03def");
        let back = crate::backend::result::parse_column(&b).unwrap();
        assert_eq!(back.character_set(), 45);
        assert_eq!(back.column_length(), 256);
        assert_eq!(back.name_ref(), b"n");
        assert_eq!(back.org_table_ref(), b"ot");
    }

    #[test]
    fn ok_roundtrip() {
        let ok = OkInfo {
            affected_rows: 300,
            last_insert_id: 70000,
            status: 3,
            warnings: 1,
            info: "x".into(),
        };
        let mut b = Vec::new();
        encode_ok(&mut b, 0, &ok);
        assert_eq!(parse_ok(&b).unwrap(), ok);
    }

    #[test]
    fn err_roundtrip() {
        let e = ErrInfo::new(1045, "28000", "denied");
        let mut b = Vec::new();
        encode_err(&mut b, &e);
        assert_eq!(parse_err(&b), e);
    }

    #[test]
    fn text_values() {
        let mut b = Vec::new();
        encode_text_value(&mut b, &Value::Int(-42));
        encode_text_value(&mut b, &Value::NULL);
        encode_text_value(&mut b, &Value::Date(2024, 1, 2, 0, 0, 0, 0));
        assert_eq!(b, b"\x03-42\xfb\x0a2024-01-02");
    }
}
