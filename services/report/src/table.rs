//! What a report is made of, whatever its format: columns with a Chinese
//! title and a kind, and rows of cells. Codes such as phone numbers, ICCIDs
//! and IMSIs are `Text`: a spreadsheet must never turn them into numbers.

use mysql_async::Value;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Kept as text everywhere (codes, ids of people, dates).
    Text,
    /// A count or an amount: a number in XLSX.
    Int,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Column {
    pub key: &'static str,
    pub title: &'static str,
    pub kind: Kind,
}

/// One cell: null, an integer or text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl utoipa::PartialSchema for Cell {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([
                Type::String,
                Type::Integer,
                Type::Null,
            ]))
            .description(Some("a cell: text, an integer (kind int) or null"))
            .into()
    }
}
impl ToSchema for Cell {}

impl Cell {
    /// A database value as a cell of `kind`: integers of text columns (ids)
    /// become text, decimal sums of integer columns become integers.
    pub fn from_value(v: Value, kind: Kind) -> Cell {
        let text = match v {
            Value::NULL => return Cell::Null,
            Value::Int(i) => match kind {
                Kind::Int => return Cell::Int(i),
                Kind::Text => i.to_string(),
            },
            Value::UInt(u) => match kind {
                Kind::Int => return Cell::Int(i64::try_from(u).unwrap_or(i64::MAX)),
                Kind::Text => u.to_string(),
            },
            // Takes the bytes as they are (no copy) when they are UTF-8.
            Value::Bytes(b) => String::from_utf8(b)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            Value::Date(y, m, d, ..) => format!("{y:04}-{m:02}-{d:02}"),
            other => other.as_sql(true).trim_matches('\'').to_string(),
        };
        match kind {
            Kind::Int => text
                .split('.')
                .next()
                .and_then(|s| s.parse().ok())
                .map_or(Cell::Text(text), Cell::Int),
            Kind::Text => Cell::Text(text),
        }
    }

    /// The cell as a CSV or display string (null is empty).
    pub fn display(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Cell::Null => "".into(),
            Cell::Int(i) => i.to_string().into(),
            Cell::Text(s) => s.as_str().into(),
        }
    }
}

pub type Row = Vec<Cell>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_cells_of_their_column_kind() {
        assert_eq!(
            Cell::from_value(Value::Int(7), Kind::Text),
            Cell::Text("7".into())
        );
        assert_eq!(
            Cell::from_value(Value::Bytes(b"42".to_vec()), Kind::Int),
            Cell::Int(42)
        );
        assert_eq!(
            Cell::from_value(Value::Bytes(b"1500.00".to_vec()), Kind::Int),
            Cell::Int(1500)
        );
        assert_eq!(
            Cell::from_value(Value::Bytes(b"89860112345678901234".to_vec()), Kind::Text),
            Cell::Text("89860112345678901234".into())
        );
        assert_eq!(Cell::from_value(Value::NULL, Kind::Int), Cell::Null);
        assert_eq!(
            Cell::from_value(Value::Date(2026, 1, 2, 0, 0, 0, 0), Kind::Text),
            Cell::Text("2026-01-02".into())
        );
    }
}
