//! The server the proxy says it is. One identity, taken from the backends'
//! own version at start, is shown everywhere a client looks: the handshake,
//! `@@version`, `VERSION()`, `@@version_comment` and `SHOW VARIABLES`.
//!
//! In front of MariaDB the proxy presents itself the way MariaDB does to
//! MySQL clients: handshake `5.5.5-10.11.x-MariaDB-haoka`, `@@version`
//! `10.11.x-MariaDB-haoka`. Drivers then pick the MariaDB dialect of what
//! they send (`@@tx_isolation`, utf8mb4_general_ci), which is what the shards
//! understand. In front of MySQL 8 it is `8.0.x-haoka`.
//!
//! Variables some drivers read by their MySQL 8 names (`transaction_isolation`,
//! `transaction_read_only`) are mapped to the MariaDB names when the backend
//! lacks them (MariaDB before 11.1), and MySQL 8 collation names that MariaDB
//! lacks (`utf8mb4_0900_*`) are mapped to the collation the proxy merges with.

use std::borrow::Cow;

/// Used when no backend answers at start (the proxy still serves; the
/// identity is then that of the MariaDB release the project is tested on).
const FALLBACK_BACKEND_VERSION: &str = "10.11.0-MariaDB";

/// MariaDB's prefix for MySQL clients that compare major versions.
const MARIADB_RPL_HACK: &str = "5.5.5-";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIdentity {
    /// `@@version` and `VERSION()`.
    pub version: String,
    /// The handshake's server version.
    pub handshake: String,
    /// `@@version_comment`.
    pub comment: String,
    /// The backends are MariaDB.
    pub mariadb: bool,
    /// The backends know `transaction_isolation` / `transaction_read_only`.
    pub has_transaction_vars: bool,
    /// `10.11.19` as 101119: the version executable comments compare with.
    pub version_number: u32,
}

impl ServerIdentity {
    /// The identity for backends whose handshake said `backend_version`
    /// (e.g. `5.5.5-10.11.19-MariaDB-0+deb12u1` or `8.0.36`).
    pub fn from_backend(backend_version: &str) -> ServerIdentity {
        let v = backend_version
            .strip_prefix(MARIADB_RPL_HACK)
            .unwrap_or(backend_version);
        let numeric: String = v
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let numeric = if numeric.is_empty() {
            "0.0.0".to_string()
        } else {
            numeric
        };
        let parts: Vec<u32> = numeric.split('.').map(|p| p.parse().unwrap_or(0)).collect();
        let at_least = |major: u32, minor: u32| {
            let (a, b) = (
                parts.first().copied().unwrap_or(0),
                parts.get(1).copied().unwrap_or(0),
            );
            (a, b) >= (major, minor)
        };
        let mariadb = v.to_ascii_lowercase().contains("mariadb");
        let version_number = parts.first().copied().unwrap_or(0) * 10_000
            + parts.get(1).copied().unwrap_or(0) * 100
            + parts.get(2).copied().unwrap_or(0);
        let comment = format!("haoka-proxy {}", env!("CARGO_PKG_VERSION"));
        if mariadb {
            let version = format!("{numeric}-MariaDB-haoka");
            ServerIdentity {
                handshake: format!("{MARIADB_RPL_HACK}{version}"),
                version,
                comment,
                mariadb,
                has_transaction_vars: at_least(11, 1),
                version_number,
            }
        } else {
            let version = format!("{numeric}-haoka");
            ServerIdentity {
                handshake: version.clone(),
                version,
                comment,
                mariadb,
                has_transaction_vars: at_least(5, 7),
                version_number,
            }
        }
    }

    pub fn fallback() -> ServerIdentity {
        Self::from_backend(FALLBACK_BACKEND_VERSION)
    }

    /// MySQL 8 variable names the backends lack, with the names they know
    /// (empty when the backends know them); session_values.rs renames them
    /// in statements.
    pub fn renamed_variables(&self) -> &'static [(&'static str, &'static str)] {
        if self.has_transaction_vars {
            &[]
        } else {
            &TRANSACTION_VARS
        }
    }

    /// A SET statement with MySQL 8 names the backend lacks mapped.
    pub fn map_set<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        let mut out = map_mysql8_collations(sql);
        if !self.has_transaction_vars {
            for (mysql8, mariadb) in TRANSACTION_VARS {
                if out.to_ascii_lowercase().contains(mysql8) {
                    out = Cow::Owned(replace_word_ci(&out, mysql8, mariadb));
                }
            }
        }
        out
    }

    /// The value SHOW VARIABLES reports for `name`, where the proxy's own
    /// identity replaces the backend's.
    pub fn variable(&self, name: &str) -> Option<&str> {
        match name.to_ascii_lowercase().as_str() {
            "version" => Some(&self.version),
            "version_comment" => Some(&self.comment),
            _ => None,
        }
    }
}

/// `sql` if it is SHOW [GLOBAL | SESSION | LOCAL] VARIABLES ...
pub fn show_variables(sql: &str) -> Option<String> {
    let mut words = sql.split_whitespace().map(|w| w.to_ascii_uppercase());
    if words.next()? != "SHOW" {
        return None;
    }
    let mut w = words.next()?;
    if matches!(w.as_str(), "GLOBAL" | "SESSION" | "LOCAL") {
        w = words.next()?;
    }
    (w == "VARIABLES").then(|| sql.to_string())
}

/// MySQL 8 name -> MariaDB (before 11.1) name.
const TRANSACTION_VARS: [(&str, &str); 2] = [
    ("transaction_isolation", "tx_isolation"),
    ("transaction_read_only", "tx_read_only"),
];

/// The MariaDB collation for a MySQL 8 `utf8mb4_0900_*` one: `_bin` and
/// `_as_cs` compare by code point (utf8mb4_bin), every other 0900 collation
/// is case- and accent-insensitive like utf8mb4_general_ci, the collation
/// the proxy's merges compare `_ci` strings with.
pub fn mariadb_collation(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let rest = lower.strip_prefix("utf8mb4_")?;
    if !rest.starts_with("0900_") && !rest.contains("_0900_") {
        return None;
    }
    if rest.ends_with("_bin") || rest.ends_with("_cs") {
        Some("utf8mb4_bin")
    } else {
        Some("utf8mb4_general_ci")
    }
}

/// `sql` with every MySQL 8 `utf8mb4_*0900*` collation name replaced (quoted
/// or not).
pub fn map_mysql8_collations(sql: &str) -> Cow<'_, str> {
    if !sql.to_ascii_lowercase().contains("0900_") {
        return Cow::Borrowed(sql);
    }
    let bytes = sql.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < bytes.len() {
        if word(bytes[i]) && (i == 0 || !word(bytes[i - 1])) {
            let end = (i..bytes.len())
                .find(|&j| !word(bytes[j]))
                .unwrap_or(bytes.len());
            let w = &sql[i..end];
            match mariadb_collation(w) {
                Some(m) => out.push_str(m),
                None => out.push_str(w),
            }
            i = end;
            continue;
        }
        let ch = sql[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    Cow::Owned(out)
}

/// Replaces the whole word `needle` (ASCII, matched case-insensitively).
fn replace_word_ci(s: &str, needle: &str, with: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(p) = lower[from..].find(needle) {
        let at = from + p;
        let end = at + needle.len();
        if (at == 0 || !word(b[at - 1])) && (end >= b.len() || !word(b[end])) {
            out.push_str(&s[copied..at]);
            out.push_str(with);
            copied = end;
        }
        from = end;
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_identity_as_mariadb_presents_itself() {
        let id = ServerIdentity::from_backend("5.5.5-10.11.19-MariaDB-0+deb12u1");
        assert_eq!(id.handshake, "5.5.5-10.11.19-MariaDB-haoka");
        assert_eq!(id.version, "10.11.19-MariaDB-haoka");
        assert!(id.mariadb && !id.has_transaction_vars);
        assert_eq!(id.version_number, 101119);
        let id = ServerIdentity::from_backend("11.4.2-MariaDB");
        assert!(id.has_transaction_vars);
        let id = ServerIdentity::from_backend("8.0.36");
        assert_eq!((id.handshake.as_str(), id.mariadb), ("8.0.36-haoka", false));
        assert!(id.has_transaction_vars);
    }

    #[test]
    fn mysql8_names_mapped() {
        let id = ServerIdentity::from_backend("5.5.5-10.11.19-MariaDB");
        assert_eq!(
            id.map_set("SET NAMES 'utf8mb4' COLLATE 'utf8mb4_0900_ai_ci'"),
            "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_general_ci'"
        );
        assert_eq!(
            id.map_set("SET collation_connection = UTF8MB4_0900_AS_CS"),
            "SET collation_connection = utf8mb4_bin"
        );
        assert_eq!(
            id.map_set("SET SESSION transaction_isolation = 'READ-COMMITTED'"),
            "SET SESSION tx_isolation = 'READ-COMMITTED'"
        );
        assert_eq!(id.map_set("SET sql_mode = ''"), "SET sql_mode = ''");
        assert_eq!(mariadb_collation("utf8mb4_general_ci"), None);
        assert_eq!(
            mariadb_collation("utf8mb4_zh_0900_as_cs"),
            Some("utf8mb4_bin")
        );
    }
}
