//! Field checks that serde's types cannot express; the same limits are declared
//! in the OpenAPI schema so clients know them.

use crate::problem::ApiError;

/// A required text field: trimmed length within `min..=max` characters, no
/// control characters.
pub fn text(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ApiError::Invalid(format!(
            "{field} must be {min} to {max} characters long (got {n})"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::Invalid(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

/// A code: letters, digits, `_`, `-`, `.` and `:` only.
pub fn code(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    text(field, value, 1, max)?;
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        return Err(ApiError::Invalid(format!(
            "{field} may hold only letters, digits, '_', '-', '.' and ':'"
        )));
    }
    Ok(())
}

pub const CODE_PATTERN: &str = "^[A-Za-z0-9_.:-]+$";

/// Checks the length of a list in a request body (1 to `max` items).
pub fn check_count(field: &str, n: usize, max: usize) -> Result<(), ApiError> {
    if n == 0 || n > max {
        return Err(ApiError::Invalid(format!(
            "{field} must list 1 to {max} numbers (got {n})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_enforced() {
        assert!(text("name", "张三", 1, 64).is_ok());
        assert!(text("name", "", 1, 64).is_err());
        assert!(text("name", "a\u{0}b", 1, 64).is_err());
        assert!(code("code", "HQ-01", 32).is_ok());
        assert!(code("code", "bad code", 32).is_err());
    }
}
