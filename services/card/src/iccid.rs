//! ICCID and IMSI as checked values. An ICCID is 19–20 digits, starts with
//! the operator's issuer prefix (89 telecom, 86 China, 01/06/09 China Unicom)
//! and ends with a Luhn check digit; an IMSI is 15 digits of MCC 460 and one
//! of the operator's MNCs.

use std::fmt;

/// Issuer prefixes of the operator's ICCIDs.
pub const ICCID_PREFIXES: [&str; 3] = ["898601", "898606", "898609"];
/// MNCs of the operator under MCC 460.
pub const IMSI_NETWORKS: [&str; 3] = ["01", "06", "09"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IccidError {
    #[error("an ICCID is 19 or 20 digits (got {0} characters)")]
    Length(usize),
    #[error("an ICCID holds digits only")]
    NotDigits,
    #[error("ICCID prefix {0} is not one of the operator's (898601, 898606, 898609)")]
    Prefix(String),
    #[error("the ICCID's check digit is wrong (Luhn): expected {expected}, got {got}")]
    CheckDigit { expected: char, got: char },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImsiError {
    #[error("an IMSI is 15 digits (got {0} characters)")]
    Length(usize),
    #[error("an IMSI holds digits only")]
    NotDigits,
    #[error("IMSI country code {0} is not 460 (China)")]
    Country(String),
    #[error("IMSI network code {0} is not one of the operator's (01, 06, 09)")]
    Network(String),
}

/// A valid ICCID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Iccid(String);

/// The Luhn check digit for `payload` (all digits but the check digit).
pub fn luhn_digit(payload: &str) -> char {
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

impl Iccid {
    pub fn parse(raw: &str) -> Result<Iccid, IccidError> {
        let s = raw.trim();
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IccidError::NotDigits);
        }
        if !(19..=20).contains(&s.len()) {
            return Err(IccidError::Length(s.chars().count()));
        }
        if !ICCID_PREFIXES.iter().any(|p| s.starts_with(p)) {
            return Err(IccidError::Prefix(s[..6].to_string()));
        }
        let (payload, check) = s.split_at(s.len() - 1);
        let expected = luhn_digit(payload);
        let got = check.chars().next().unwrap_or('?');
        if expected != got {
            return Err(IccidError::CheckDigit { expected, got });
        }
        Ok(Iccid(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Iccid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A valid IMSI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Imsi(String);

impl Imsi {
    pub fn parse(raw: &str) -> Result<Imsi, ImsiError> {
        let s = raw.trim();
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ImsiError::NotDigits);
        }
        if s.len() != 15 {
            return Err(ImsiError::Length(s.chars().count()));
        }
        if &s[..3] != "460" {
            return Err(ImsiError::Country(s[..3].to_string()));
        }
        if !IMSI_NETWORKS.contains(&&s[3..5]) {
            return Err(ImsiError::Network(s[3..5].to_string()));
        }
        Ok(Imsi(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Imsi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_check(payload: &str) -> String {
        format!("{payload}{}", luhn_digit(payload))
    }

    #[test]
    fn luhn_matches_known_values() {
        // The classic Luhn example 7992739871 -> check digit 3.
        assert_eq!(luhn_digit("7992739871"), '3');
        // Python cross-check of a China Unicom-format payload.
        assert_eq!(luhn_digit("898601178820110022"), '8');
    }

    #[test]
    fn iccids_are_checked() {
        let good19 = with_check("898601178820110022");
        let good20 = with_check("8986061788201100223");
        assert_eq!(good19.len(), 19);
        assert_eq!(Iccid::parse(&good19).unwrap().as_str(), good19);
        assert!(Iccid::parse(&good20).is_ok());
        assert!(Iccid::parse(&with_check("898609178820110022")).is_ok());
        assert_eq!(
            Iccid::parse(&with_check("89860117882011002")),
            Err(IccidError::Length(18))
        );
        assert_eq!(
            Iccid::parse(&with_check("89860117882011002233")),
            Err(IccidError::Length(21))
        );
        assert_eq!(
            Iccid::parse(&with_check("898603178820110022")),
            Err(IccidError::Prefix("898603".into()))
        );
        assert_eq!(
            Iccid::parse("89860117882011002X5"),
            Err(IccidError::NotDigits)
        );
        let mut bad = good19.clone().into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'9' {
            b'0'
        } else {
            bad[last] + 1
        };
        assert!(matches!(
            Iccid::parse(std::str::from_utf8(&bad).unwrap()),
            Err(IccidError::CheckDigit { .. })
        ));
        // A single transposition of neighbours is caught too.
        let mut swapped = good19.clone().into_bytes();
        swapped.swap(10, 11);
        if swapped != good19.as_bytes() {
            assert!(Iccid::parse(std::str::from_utf8(&swapped).unwrap()).is_err());
        }
    }

    #[test]
    fn imsis_are_checked() {
        assert!(Imsi::parse("460011234567890").is_ok());
        assert!(Imsi::parse("460091234567890").is_ok());
        assert_eq!(Imsi::parse("46001123456789"), Err(ImsiError::Length(14)));
        assert_eq!(
            Imsi::parse("310011234567890"),
            Err(ImsiError::Country("310".into()))
        );
        assert_eq!(
            Imsi::parse("460001234567890"),
            Err(ImsiError::Network("00".into()))
        );
        assert_eq!(Imsi::parse("4600112345678a0"), Err(ImsiError::NotDigits));
    }
}
