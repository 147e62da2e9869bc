//! The naming convention: `<KIND>_<province>_<yyyymmdd>_<seq>.<csv|xlsx>`,
//! e.g. `NUM_INTAKE_51_20261202_001.csv`. The kind decides the header; the
//! province is the feed owner's (checked against the loader account's scope
//! by the centers); date and sequence only make names unique.

use super::Kind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    pub kind: Kind,
    pub province: String,
    pub date: String,
    pub seq: String,
    pub format: Format,
    /// The name without its extension: results are `<base>.result.csv`.
    pub base: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("the name does not end in .csv or .xlsx")]
    Extension,
    #[error("the name is not <KIND>_<province>_<yyyymmdd>_<seq>")]
    Shape,
    #[error("unknown file kind {0}")]
    UnknownKind(String),
    #[error("province {0} is not two digits")]
    Province(String),
    #[error("date {0} is not yyyymmdd")]
    Date(String),
}

/// The base name of a file (without extension) whatever its shape, for the
/// result of a file whose name is refused.
pub fn base_of(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(b, _)| b)
}

pub fn parse(name: &str) -> Result<FileName, NameError> {
    let (base, ext) = name.rsplit_once('.').ok_or(NameError::Extension)?;
    let format = match ext.to_ascii_lowercase().as_str() {
        "csv" => Format::Csv,
        "xlsx" => Format::Xlsx,
        _ => return Err(NameError::Extension),
    };
    // The kind itself holds underscores: the last three parts are fixed.
    let parts: Vec<&str> = base.rsplitn(4, '_').collect();
    let [seq, date, province, kind] = parts[..] else {
        return Err(NameError::Shape);
    };
    let kind = Kind::from_prefix(kind).ok_or_else(|| NameError::UnknownKind(kind.to_string()))?;
    if province.len() != 2 || !province.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NameError::Province(province.to_string()));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NameError::Date(date.to_string()));
    }
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(NameError::Shape);
    }
    Ok(FileName {
        kind,
        province: province.to_string(),
        date: date.to_string(),
        seq: seq.to_string(),
        format,
        base: base.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = parse("NUM_INTAKE_51_20261202_001.csv").unwrap();
        assert_eq!(n.kind, Kind::NumberIntake);
        assert_eq!(n.province, "51");
        assert_eq!(n.base, "NUM_INTAKE_51_20261202_001");
        assert_eq!(n.format, Format::Csv);
        assert_eq!(
            parse("NUM_INTAKE_51_20261202_001.xlsx").unwrap().format,
            Format::Xlsx
        );
        assert_eq!(
            parse("FOO_51_20261202_001.csv"),
            Err(NameError::UnknownKind("FOO".into()))
        );
        assert_eq!(parse("NUM_INTAKE_51.csv"), Err(NameError::Shape));
        assert_eq!(
            parse("NUM_INTAKE_51_20261202_001.txt"),
            Err(NameError::Extension)
        );
        assert_eq!(
            parse("NUM_INTAKE_5x_20261202_001.csv"),
            Err(NameError::Province("5x".into()))
        );
        assert_eq!(base_of("a.b.csv"), "a.b");
    }
}
