//! Column metadata the merger needs, and how a column's values compare.

use mysql_common::constants::{ColumnFlags, ColumnType};
use mysql_common::packets::Column;

/// Collation id of the `binary` pseudo-charset.
pub const BINARY_COLLATION: u16 = 63;
/// utf8mb4_general_ci, the proxy's default.
pub const UTF8MB4_GENERAL_CI: u16 = 45;

/// What the merger knows about one result column.
///
/// Built from the shard's column definition with [`ColumnMeta::from_column`];
/// turned back into a wire column definition with [`ColumnMeta::to_column`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMeta {
    pub schema: Vec<u8>,
    pub table: Vec<u8>,
    pub org_table: Vec<u8>,
    pub name: Vec<u8>,
    pub org_name: Vec<u8>,
    pub column_type: ColumnType,
    pub flags: ColumnFlags,
    /// Scale for DECIMAL, fractional seconds for temporal types, 31 (or 39)
    /// for FLOAT/DOUBLE without a fixed scale.
    pub decimals: u8,
    /// Collation id (the wire protocol calls it "character set").
    pub collation: u16,
    pub column_length: u32,
}

impl ColumnMeta {
    /// A column with the given name and type; numeric types get the binary
    /// collation, everything else utf8mb4_general_ci.
    pub fn new(name: &str, column_type: ColumnType) -> Self {
        let numeric = !matches!(
            TypeClass::of_type(column_type, BINARY_COLLATION),
            TypeClass::Str(_)
        );
        ColumnMeta {
            schema: Vec::new(),
            table: Vec::new(),
            org_table: Vec::new(),
            name: name.as_bytes().to_vec(),
            org_name: name.as_bytes().to_vec(),
            column_type,
            flags: if numeric {
                ColumnFlags::BINARY_FLAG
            } else {
                ColumnFlags::empty()
            },
            decimals: if matches!(
                column_type,
                ColumnType::MYSQL_TYPE_DOUBLE | ColumnType::MYSQL_TYPE_FLOAT
            ) {
                31
            } else {
                0
            },
            collation: if numeric {
                BINARY_COLLATION
            } else {
                UTF8MB4_GENERAL_CI
            },
            column_length: 0,
        }
    }

    pub fn with_decimals(mut self, decimals: u8) -> Self {
        self.decimals = decimals;
        self
    }

    pub fn with_collation(mut self, collation: u16) -> Self {
        self.collation = collation;
        self
    }

    pub fn with_flags(mut self, flags: ColumnFlags) -> Self {
        self.flags = flags;
        self
    }

    pub fn from_column(c: &Column) -> Self {
        ColumnMeta {
            schema: c.schema_ref().to_vec(),
            table: c.table_ref().to_vec(),
            org_table: c.org_table_ref().to_vec(),
            name: c.name_ref().to_vec(),
            org_name: c.org_name_ref().to_vec(),
            column_type: c.column_type(),
            flags: c.flags(),
            decimals: c.decimals(),
            collation: c.character_set(),
            column_length: c.column_length(),
        }
    }

    pub fn to_column(&self) -> Column {
        Column::new(self.column_type)
            .with_schema(&self.schema)
            .with_table(&self.table)
            .with_org_table(&self.org_table)
            .with_name(&self.name)
            .with_org_name(&self.org_name)
            .with_flags(self.flags)
            .with_column_length(self.column_length)
            .with_character_set(self.collation)
            .with_decimals(self.decimals)
    }

    pub fn is_unsigned(&self) -> bool {
        self.flags.contains(ColumnFlags::UNSIGNED_FLAG)
    }

    pub(crate) fn class(&self) -> TypeClass {
        match TypeClass::of_type(self.column_type, self.collation) {
            // MariaDB names a text column's character set by its default
            // collation and marks a `_bin` collation only with the BINARY
            // flag (`c COLLATE utf8mb4_bin` arrives as 45 + BINARY).
            TypeClass::Str(Collation::Ci { pad })
                if self.flags.contains(ColumnFlags::BINARY_FLAG) =>
            {
                TypeClass::Str(Collation::Bin { pad })
            }
            c => c,
        }
    }
}

impl From<&Column> for ColumnMeta {
    fn from(c: &Column) -> Self {
        ColumnMeta::from_column(c)
    }
}

/// How strings of a collation compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collation {
    /// `binary`: raw bytes, trailing spaces significant.
    Binary,
    /// Code-point order (`*_bin`, `*_cs`); `pad` = PAD SPACE.
    Bin { pad: bool },
    /// Case- and accent-insensitive with utf8mb4_general_ci weights
    /// (used for every `*_ci` collation); `pad` = PAD SPACE.
    Ci { pad: bool },
}

/// MariaDB 10.11 `*_bin` (PAD SPACE) collation ids.
const BIN_PAD: &[u16] = &[
    43, 46, 47, 50, 53, 55, 58, 61, 62, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 77, 78, 79,
    80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 93, 96, 98,
    // *_cs and *_w2 collations: case-sensitive, treated as code-point order.
    2, 20, 34, 42, 49, 52, 578, 610, 642, 674, 738,
];

impl Collation {
    pub fn from_id(id: u16) -> Collation {
        match id {
            BINARY_COLLATION => Collation::Binary,
            // MariaDB *_nopad_bin
            1024..=2047 if is_mariadb_nopad_bin(id) => Collation::Bin { pad: false },
            // MariaDB *_nopad_*_ci
            1024..=2047 => Collation::Ci { pad: false },
            // MySQL 8 utf8mb4_0900_bin / utf8mb4_0900_as_cs (NO PAD)
            309 | 278 => Collation::Bin { pad: false },
            // MySQL 8 utf8mb4_0900_*_ci (NO PAD)
            255..=323 => Collation::Ci { pad: false },
            _ if BIN_PAD.contains(&id) => Collation::Bin { pad: true },
            _ => Collation::Ci { pad: true },
        }
    }
}

fn is_mariadb_nopad_bin(id: u16) -> bool {
    // The nopad variant of a collation is its id + 1024.
    id >= 1024 && BIN_PAD[..39].contains(&(id - 1024))
}

/// How the merger interprets a column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeClass {
    Int,
    Decimal,
    Float,
    Date,
    Time,
    Str(Collation),
}

impl TypeClass {
    pub(crate) fn of_type(t: ColumnType, collation: u16) -> TypeClass {
        use ColumnType::*;
        match t {
            MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_LONG | MYSQL_TYPE_INT24
            | MYSQL_TYPE_LONGLONG | MYSQL_TYPE_YEAR => TypeClass::Int,
            MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => TypeClass::Decimal,
            MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => TypeClass::Float,
            MYSQL_TYPE_DATE
            | MYSQL_TYPE_NEWDATE
            | MYSQL_TYPE_DATETIME
            | MYSQL_TYPE_DATETIME2
            | MYSQL_TYPE_TIMESTAMP
            | MYSQL_TYPE_TIMESTAMP2 => TypeClass::Date,
            MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => TypeClass::Time,
            MYSQL_TYPE_BIT | MYSQL_TYPE_GEOMETRY => TypeClass::Str(Collation::Binary),
            _ => TypeClass::Str(Collation::from_id(collation)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collations() {
        assert_eq!(Collation::from_id(63), Collation::Binary);
        assert_eq!(Collation::from_id(45), Collation::Ci { pad: true });
        assert_eq!(Collation::from_id(33), Collation::Ci { pad: true });
        assert_eq!(Collation::from_id(46), Collation::Bin { pad: true });
        assert_eq!(Collation::from_id(83), Collation::Bin { pad: true });
        assert_eq!(Collation::from_id(1070), Collation::Bin { pad: false });
        assert_eq!(Collation::from_id(1069), Collation::Ci { pad: false });
        assert_eq!(Collation::from_id(255), Collation::Ci { pad: false });
        assert_eq!(Collation::from_id(309), Collation::Bin { pad: false });
    }

    #[test]
    fn binary_flag_makes_a_text_column_bin() {
        // MariaDB: `c COLLATE utf8mb4_bin` and a utf8mb4_bin column both
        // arrive as utf8mb4_general_ci (45) with the BINARY flag.
        let bin = ColumnMeta::new("c", ColumnType::MYSQL_TYPE_VAR_STRING)
            .with_flags(ColumnFlags::BINARY_FLAG);
        assert_eq!(bin.class(), TypeClass::Str(Collation::Bin { pad: true }));
        let ci = ColumnMeta::new("c", ColumnType::MYSQL_TYPE_VAR_STRING);
        assert_eq!(ci.class(), TypeClass::Str(Collation::Ci { pad: true }));
        let raw = ColumnMeta::new("b", ColumnType::MYSQL_TYPE_VAR_STRING)
            .with_collation(BINARY_COLLATION)
            .with_flags(ColumnFlags::BINARY_FLAG);
        assert_eq!(raw.class(), TypeClass::Str(Collation::Binary));
        // numbers carry the flag too and stay numbers
        let n = ColumnMeta::new("n", ColumnType::MYSQL_TYPE_LONG);
        assert_eq!(n.class(), TypeClass::Int);
    }

    #[test]
    fn column_roundtrip() {
        let m = ColumnMeta::new("x", ColumnType::MYSQL_TYPE_NEWDECIMAL).with_decimals(4);
        let back = ColumnMeta::from_column(&m.to_column());
        assert_eq!(m, back);
    }
}
