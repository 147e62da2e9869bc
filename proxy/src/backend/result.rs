//! Decoding helpers for raw result packets (off the hot path: forwarding
//! never calls these).

use std::sync::Arc;

use mysql_common::io::ParseBuf;
use mysql_common::packets::Column;
use mysql_common::row::RowDeserializer;
use mysql_common::value::{ServerSide, Value};

use super::error::{BackendError, Result};

/// A column definition: the raw packet (for forwarding) and its parse.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    pub raw: Vec<u8>,
    pub column: Column,
}

impl ColumnDef {
    pub fn new(raw: &[u8]) -> Result<Self> {
        Ok(ColumnDef {
            raw: raw.to_vec(),
            column: parse_column(raw)?,
        })
    }
}

pub fn parse_column(raw: &[u8]) -> Result<Column> {
    ParseBuf(raw)
        .parse::<Column>(())
        .map_err(|e| BackendError::Protocol(format!("bad column definition: {e}")))
}

/// Decodes a text-protocol row.
pub fn decode_text_row(raw: &[u8], columns: Arc<[Column]>) -> Result<Vec<Value>> {
    ParseBuf(raw)
        .parse::<RowDeserializer<(), mysql_common::proto::Text>>(columns)
        .map(|r| mysql_common::Row::from(r).unwrap())
        .map_err(|e| BackendError::Protocol(format!("bad text row: {e}")))
}

/// Decodes a binary-protocol row (COM_STMT_EXECUTE results).
pub fn decode_binary_row(raw: &[u8], columns: Arc<[Column]>) -> Result<Vec<Value>> {
    ParseBuf(raw)
        .parse::<RowDeserializer<ServerSide, mysql_common::proto::Binary>>(columns)
        .map(|r| mysql_common::Row::from(r).unwrap())
        .map_err(|e| BackendError::Protocol(format!("bad binary row: {e}")))
}
