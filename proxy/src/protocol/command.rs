//! Client commands decoded from a packet payload (borrowed, no copies), and
//! COM_STMT_EXECUTE parameter parsing against per-statement state.

use mysql_common::constants::{ColumnFlags, ColumnType};
use mysql_common::io::ParseBuf;
use mysql_common::value::{BinValue, Value, ValueDeserializer};

use super::consts::*;
use super::packets::Reader;

/// One decoded client command. Byte strings borrow the read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    Quit,
    InitDb(&'a [u8]),
    Query(&'a [u8]),
    FieldList {
        table: &'a [u8],
        wildcard: &'a [u8],
    },
    Statistics,
    ProcessKill(u32),
    Ping,
    StmtPrepare(&'a [u8]),
    /// Body after the command byte; parsed by `parse_execute`.
    StmtExecute(&'a [u8]),
    StmtSendLongData {
        stmt_id: u32,
        param: u16,
        data: &'a [u8],
    },
    StmtClose(u32),
    StmtReset(u32),
    SetOption(u16),
    ResetConnection,
    Unknown(u8),
}

/// Decodes a command packet. `Err` names what is malformed.
pub fn decode(payload: &[u8]) -> Result<Command<'_>, &'static str> {
    let (&cmd, body) = payload.split_first().ok_or("empty command packet")?;
    let mut r = Reader::new(body);
    Ok(match cmd {
        COM_QUIT => Command::Quit,
        COM_INIT_DB => Command::InitDb(body),
        COM_QUERY => Command::Query(body),
        COM_FIELD_LIST => {
            let table = r.null_str();
            Command::FieldList {
                table,
                wildcard: r.rest(),
            }
        }
        COM_STATISTICS => Command::Statistics,
        COM_PROCESS_KILL => Command::ProcessKill(r.u32().ok_or("short COM_PROCESS_KILL")?),
        COM_PING => Command::Ping,
        COM_STMT_PREPARE => Command::StmtPrepare(body),
        COM_STMT_EXECUTE => {
            if body.len() < 9 {
                return Err("short COM_STMT_EXECUTE");
            }
            Command::StmtExecute(body)
        }
        COM_STMT_SEND_LONG_DATA => {
            let stmt_id = r.u32().ok_or("short COM_STMT_SEND_LONG_DATA")?;
            let param = r.u16().ok_or("short COM_STMT_SEND_LONG_DATA")?;
            Command::StmtSendLongData {
                stmt_id,
                param,
                data: r.rest(),
            }
        }
        COM_STMT_CLOSE => Command::StmtClose(r.u32().ok_or("short COM_STMT_CLOSE")?),
        COM_STMT_RESET => Command::StmtReset(r.u32().ok_or("short COM_STMT_RESET")?),
        COM_SET_OPTION => Command::SetOption(r.u16().ok_or("short COM_SET_OPTION")?),
        COM_RESET_CONNECTION => Command::ResetConnection,
        other => Command::Unknown(other),
    })
}

/// Parameter type as sent by the client: (type, flags); flags 0x80 = unsigned.
pub type ParamType = (u8, u8);

/// What the session remembers about a client prepared statement.
#[derive(Debug, Default, Clone)]
pub struct StmtState {
    pub num_params: u16,
    /// Types from the last execute that bound them.
    pub types: Vec<ParamType>,
    /// COM_STMT_SEND_LONG_DATA chunks per param, cleared after each execute.
    pub long_data: Vec<Option<Vec<u8>>>,
}

impl StmtState {
    pub fn new(num_params: u16) -> Self {
        StmtState {
            num_params,
            types: Vec::new(),
            long_data: Vec::new(),
        }
    }

    pub fn append_long_data(&mut self, param: u16, data: &[u8]) {
        let i = param as usize;
        if i >= self.num_params as usize {
            return; // MySQL ignores it too (and reports at execute time)
        }
        if self.long_data.len() < self.num_params as usize {
            self.long_data.resize(self.num_params as usize, None);
        }
        self.long_data[i]
            .get_or_insert_with(Vec::new)
            .extend_from_slice(data);
    }

    pub fn clear_long_data(&mut self) {
        self.long_data.clear();
    }
}

/// A parsed COM_STMT_EXECUTE.
#[derive(Debug, Clone, Copy)]
pub struct ExecuteRequest<'a> {
    pub stmt_id: u32,
    pub flags: u8,
    pub iteration_count: u32,
    pub num_params: u16,
    /// True when this packet carried the types (new-params-bound flag).
    pub new_params_bound: bool,
    /// Effective parameter types (this packet's or remembered ones).
    pub types: &'a [ParamType],
    null_bitmap: &'a [u8],
    values: &'a [u8],
    long_data: &'a [Option<Vec<u8>>],
    body: &'a [u8],
}

/// Parses an execute body (after the command byte) for `stmt`, storing
/// newly bound types in it. `Err` describes the malformation.
pub fn parse_execute<'a>(
    body: &'a [u8],
    stmt: &'a mut StmtState,
) -> Result<ExecuteRequest<'a>, &'static str> {
    let mut r = Reader::new(body);
    let stmt_id = r.u32().ok_or("short execute")?;
    let flags = r.u8().ok_or("short execute")?;
    let iteration_count = r.u32().ok_or("short execute")?;
    let n = stmt.num_params as usize;
    let mut null_bitmap: &[u8] = &[];
    let mut new_params_bound = false;
    if n > 0 {
        null_bitmap = r.take(n.div_ceil(8)).ok_or("short null bitmap")?;
        new_params_bound = r.u8().ok_or("missing new-params-bound flag")? == 1;
        if new_params_bound {
            let t = r.take(2 * n).ok_or("short parameter types")?;
            stmt.types.clear();
            stmt.types.extend(t.chunks_exact(2).map(|c| (c[0], c[1])));
        } else if stmt.types.len() != n {
            return Err("parameter types were never bound");
        }
    }
    let values = r.rest();
    let stmt: &'a StmtState = stmt;
    let req = ExecuteRequest {
        stmt_id,
        flags,
        iteration_count,
        num_params: stmt.num_params,
        new_params_bound,
        types: &stmt.types,
        null_bitmap,
        values,
        long_data: &stmt.long_data,
        body,
    };
    req.walk_values(|_, _| ())?;
    Ok(req)
}

impl<'a> ExecuteRequest<'a> {
    /// The execute body after the statement id (flags, iteration count,
    /// bitmap, types, values): forward it to a backend statement that has
    /// seen the same sequence of executes, with only the id replaced.
    pub fn raw_after_stmt_id(&self) -> &'a [u8] {
        &self.body[4..]
    }

    pub fn has_long_data(&self) -> bool {
        self.long_data.iter().any(Option::is_some)
    }

    pub fn is_null(&self, i: usize) -> bool {
        self.null_bitmap
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    fn long(&self, i: usize) -> Option<&'a [u8]> {
        self.long_data.get(i).and_then(|d| d.as_deref())
    }

    /// Calls `f(index, raw value bytes)` for every non-NULL param sent inline.
    fn walk_values(&self, mut f: impl FnMut(usize, &'a [u8])) -> Result<(), &'static str> {
        let mut rest = self.values;
        for i in 0..self.num_params as usize {
            if self.is_null(i) || self.long(i).is_some() {
                continue;
            }
            let (ty, _) = self.types[i];
            let len = bin_value_len(ty, rest).ok_or("truncated parameter value")?;
            let (v, t) = rest.split_at(len);
            f(i, v);
            rest = t;
        }
        Ok(())
    }

    /// Decodes all parameters into values (long data as `Bytes`).
    pub fn params(&self) -> Result<Vec<Value>, &'static str> {
        let mut out = vec![Value::NULL; self.num_params as usize];
        let mut bad = false;
        self.walk_values(|i, raw| {
            let (ty, fl) = self.types[i];
            let col_ty = ColumnType::try_from(ty).unwrap_or(ColumnType::MYSQL_TYPE_BLOB);
            let flags = if fl & 0x80 != 0 {
                ColumnFlags::UNSIGNED_FLAG
            } else {
                ColumnFlags::empty()
            };
            match ParseBuf(raw).parse::<ValueDeserializer<BinValue>>((col_ty, flags)) {
                Ok(v) => out[i] = v.0,
                Err(_) => bad = true,
            }
        })?;
        if bad {
            return Err("undecodable parameter value");
        }
        for (i, v) in out.iter_mut().enumerate() {
            if let Some(d) = self.long(i) {
                *v = Value::Bytes(d.to_vec());
            }
        }
        Ok(out)
    }

    /// Full COM_STMT_EXECUTE payload for `stmt_id` on a backend: types always
    /// bound and long data inlined, so it is valid for any backend statement.
    pub fn encode_for_backend(&self, stmt_id: u32, out: &mut Vec<u8>) {
        out.push(COM_STMT_EXECUTE);
        out.extend_from_slice(&stmt_id.to_le_bytes());
        out.push(self.flags);
        out.extend_from_slice(&self.iteration_count.to_le_bytes());
        let n = self.num_params as usize;
        if n == 0 {
            return;
        }
        out.extend_from_slice(self.null_bitmap);
        out.push(1);
        for (i, &(ty, fl)) in self.types.iter().enumerate() {
            // Long data is sent as a string of the declared type.
            let ty = if self.long(i).is_some() && !is_string_type(ty) {
                ColumnType::MYSQL_TYPE_BLOB as u8
            } else {
                ty
            };
            out.extend_from_slice(&[ty, fl]);
        }
        if !self.has_long_data() {
            out.extend_from_slice(self.values);
            return;
        }
        let mut rest = self.values;
        for i in 0..n {
            if let Some(d) = self.long(i) {
                mysql_common::io::BufMutExt::put_lenenc_str(out, d);
            } else if !self.is_null(i) {
                let len = bin_value_len(self.types[i].0, rest).unwrap_or(rest.len());
                out.extend_from_slice(&rest[..len]);
                rest = &rest[len..];
            }
        }
    }
}

fn is_string_type(ty: u8) -> bool {
    matches!(ty, 0x0f | 0xf5..=0xfe)
}

/// Length of one binary-protocol value of type `ty` at the start of `b`.
pub fn bin_value_len(ty: u8, b: &[u8]) -> Option<usize> {
    use ColumnType::*;
    let fixed = match ColumnType::try_from(ty).ok()? {
        MYSQL_TYPE_NULL => 0,
        MYSQL_TYPE_TINY => 1,
        MYSQL_TYPE_SHORT | MYSQL_TYPE_YEAR => 2,
        MYSQL_TYPE_LONG | MYSQL_TYPE_INT24 | MYSQL_TYPE_FLOAT => 4,
        MYSQL_TYPE_LONGLONG | MYSQL_TYPE_DOUBLE => 8,
        MYSQL_TYPE_DATE
        | MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_TIME
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIMESTAMP2
        | MYSQL_TYPE_TIME2 => 1 + *b.first()? as usize,
        _ => {
            let mut r = Reader::new(b);
            let n = usize::try_from(r.lenenc()?).ok()?;
            (b.len() - r.b.len()).checked_add(n)?
        }
    };
    (fixed <= b.len()).then_some(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec_body(stmt_id: u32, bitmap: u8, bound: Option<&[u8]>, values: &[u8]) -> Vec<u8> {
        let mut b = stmt_id.to_le_bytes().to_vec();
        b.push(0);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.push(bitmap);
        match bound {
            Some(t) => {
                b.push(1);
                b.extend_from_slice(t);
            }
            None => b.push(0),
        }
        b.extend_from_slice(values);
        b
    }

    #[test]
    fn execute_params_and_remembered_types() {
        let mut st = StmtState::new(3);
        // LONGLONG -5, NULL, VAR_STRING "ab"
        let mut vals = (-5i64).to_le_bytes().to_vec();
        vals.extend_from_slice(b"\x02ab");
        let body = exec_body(7, 0b010, Some(&[8, 0, 6, 0, 0xfd, 0]), &vals);
        let req = parse_execute(&body, &mut st).unwrap();
        assert_eq!(
            req.params().unwrap(),
            vec![Value::Int(-5), Value::NULL, Value::Bytes(b"ab".to_vec())]
        );
        let body2 = exec_body(7, 0b010, None, &vals);
        let req2 = parse_execute(&body2, &mut st).unwrap();
        assert!(!req2.new_params_bound);
        assert_eq!(req2.params().unwrap()[0], Value::Int(-5));
        let mut enc = Vec::new();
        req2.encode_for_backend(99, &mut enc);
        assert_eq!(&enc[1..5], &99u32.to_le_bytes());
    }

    #[test]
    fn execute_garbage_is_error() {
        let mut st = StmtState::new(2);
        let body = exec_body(1, 0, Some(&[8, 0, 8, 0]), &[1, 2, 3]);
        assert!(parse_execute(&body, &mut st).is_err());
        let mut st = StmtState::new(1);
        assert!(parse_execute(&exec_body(1, 0, None, &[]), &mut st).is_err());
    }

    /// Deterministic fuzz: random bodies and types never panic.
    #[test]
    fn fuzz_execute_and_commands() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let n = (rnd() % 4) as u16;
            let len = (rnd() % 40) as usize;
            let mut body: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            if body.len() > 9 && rnd() % 2 == 0 {
                body[9] = 0; // empty-ish bitmap
            }
            let mut st = StmtState::new(n);
            if rnd() % 3 == 0 {
                st.append_long_data(0, b"ld");
            }
            if let Ok(req) = parse_execute(&body, &mut st) {
                let _ = req.params();
                let mut out = Vec::new();
                req.encode_for_backend(1, &mut out);
            }
            let _ = decode(&body);
            let _ = super::super::handshake::parse_response(&body);
            let _ = super::super::packets::parse_ok(&body);
            let _ = super::super::packets::parse_err(&body);
        }
    }

    #[test]
    fn long_data_is_inlined() {
        let mut st = StmtState::new(1);
        st.append_long_data(0, b"xyz");
        let body = exec_body(1, 0, Some(&[0xfc, 0]), &[]);
        let req = parse_execute(&body, &mut st).unwrap();
        assert_eq!(req.params().unwrap(), vec![Value::Bytes(b"xyz".to_vec())]);
        let mut enc = Vec::new();
        req.encode_for_backend(2, &mut enc);
        assert!(enc.ends_with(b"\x03xyz"));
    }
}
