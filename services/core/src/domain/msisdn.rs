//! A phone number (MSISDN) as a checked value: 11 digits starting with 1. Its
//! first 7 digits are the segment (号段) that routes it.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsisdnError {
    #[error("{0:?} is not 11 digits long")]
    Length(String),
    #[error("{0:?} holds a character that is not a digit")]
    NotDigits(String),
    #[error("{0:?} does not start with 1")]
    Prefix(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Msisdn([u8; 11]);

impl Msisdn {
    /// Exactly 11 ASCII digits starting with 1 (no surrounding blanks: the
    /// API schema says so, and a batch loader trims its lines itself).
    pub fn parse(s: &str) -> Result<Msisdn, MsisdnError> {
        let t = s;
        if !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MsisdnError::NotDigits(t.to_string()));
        }
        let bytes: [u8; 11] = t
            .as_bytes()
            .try_into()
            .map_err(|_| MsisdnError::Length(t.to_string()))?;
        if bytes[0] != b'1' {
            return Err(MsisdnError::Prefix(t.to_string()));
        }
        Ok(Msisdn(bytes))
    }

    /// From an integer (ranges are walked as integers).
    pub fn from_u64(n: u64) -> Result<Msisdn, MsisdnError> {
        Msisdn::parse(&n.to_string())
    }

    pub fn as_u64(&self) -> u64 {
        self.as_str().parse().unwrap_or(0)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    pub fn digits(&self) -> &[u8; 11] {
        &self.0
    }

    /// The 7-digit segment (H-code).
    pub fn segment(&self) -> &str {
        &self.as_str()[..7]
    }

    pub fn segment_number(&self) -> u32 {
        self.segment().parse().unwrap_or(0)
    }

    pub fn tail4(&self) -> &str {
        &self.as_str()[7..]
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_splits() {
        let n = Msisdn::parse("13018001234").unwrap();
        assert_eq!(n.segment(), "1301800");
        assert_eq!(n.tail4(), "1234");
        assert_eq!(n.as_u64(), 13018001234);
        assert!(matches!(
            Msisdn::parse("1301800123"),
            Err(MsisdnError::Length(_))
        ));
        assert!(matches!(
            Msisdn::parse("1301800123a"),
            Err(MsisdnError::NotDigits(_))
        ));
        assert!(matches!(
            Msisdn::parse(" 13018001234"),
            Err(MsisdnError::NotDigits(_))
        ));
        assert!(matches!(
            Msisdn::parse("23018001234"),
            Err(MsisdnError::Prefix(_))
        ));
        assert!(matches!(
            Msisdn::parse("١٣٠١٨٠٠١٢٣٤"),
            Err(MsisdnError::NotDigits(_))
        ));
    }
}
