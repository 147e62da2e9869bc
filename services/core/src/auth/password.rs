//! Staff passwords: argon2id hashes (PHC strings) and the password policy
//! (length, character classes, no reuse of recent ones, expiry).

use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier, Version};
use rand::seq::SliceRandom;
use rand::Rng;
use tokio::sync::{OnceCell, Semaphore};

use crate::config::PasswordConfig;
use crate::problem::ApiError;

/// Hashes and verifies on the blocking pool: argon2 is meant to be slow.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    /// A hash of a password nobody knows, made with the configured cost:
    /// checked against when there is no account, so that an unknown staff
    /// number takes as long to refuse as a wrong password.
    dummy: Arc<OnceCell<String>>,
    /// Hashes running at once (each holds `argon2_memory_kib`): a flood of
    /// logins — unknown staff numbers cost a hash too — queues here instead
    /// of exhausting the host's memory.
    running: Arc<Semaphore>,
}

impl Hasher {
    pub fn new(cfg: &PasswordConfig) -> Hasher {
        let params =
            Params::new(cfg.argon2_memory_kib, cfg.argon2_iterations, 1, None).unwrap_or_default();
        Hasher {
            params,
            dummy: Arc::default(),
            running: Arc::new(Semaphore::new(cfg.max_parallel_hashes.max(1))),
        }
    }

    /// As long as [`Hasher::verify`] of a real account; always false.
    pub async fn verify_nobody(&self, password: &str) -> bool {
        let dummy = self
            .dummy
            .get_or_try_init(|| async { self.hash(&generate()).await })
            .await;
        if let Ok(phc) = dummy {
            // The answer is known; the time it takes is the point.
            let _ = self.verify(password, phc).await;
        }
        false
    }

    fn argon(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let params = self.params.clone();
        let password = password.to_string();
        let _turn = self.running.acquire().await;
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Hasher::argon(params)
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("hash task: {e}")))?
    }

    /// True when `password` matches the PHC string (its own parameters apply).
    pub async fn verify(&self, password: &str, phc: &str) -> bool {
        let password = password.to_string();
        let phc = phc.to_string();
        let _turn = self.running.acquire().await;
        tokio::task::spawn_blocking(move || match PasswordHash::new(&phc) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        })
        .await
        .unwrap_or(false)
    }

    /// Whether any of `hashes` is the hash of `password`.
    pub async fn matches_any(&self, password: &str, hashes: &[String]) -> bool {
        for h in hashes {
            if self.verify(password, h).await {
                return true;
            }
        }
        false
    }
}

/// The rules a new password must meet (from `login_policy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: u32,
    /// Of lower case, upper case, digits and symbols.
    pub min_classes: u32,
    /// The last N passwords may not be reused.
    pub history: u32,
    /// A password older than this must be changed at the next login.
    pub max_age_days: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 10,
            min_classes: 3,
            history: 5,
            max_age_days: 90,
        }
    }
}

/// Longest password accepted (argon2 input, and a bound on work).
pub const MAX_PASSWORD_CHARS: usize = 128;

impl PasswordPolicy {
    /// Length, classes, and not containing the staff number.
    pub fn check_shape(&self, password: &str, staff_no: &str) -> Result<(), ApiError> {
        let n = password.chars().count();
        if n < self.min_length as usize {
            return Err(ApiError::PasswordPolicy(format!(
                "the password must have at least {} characters",
                self.min_length
            )));
        }
        if n > MAX_PASSWORD_CHARS {
            return Err(ApiError::PasswordPolicy(format!(
                "the password may have at most {MAX_PASSWORD_CHARS} characters"
            )));
        }
        let classes = [
            password.chars().any(|c| c.is_lowercase()),
            password.chars().any(|c| c.is_uppercase()),
            password.chars().any(|c| c.is_ascii_digit()),
            // Spaces (and other blanks) are not symbols.
            password
                .chars()
                .any(|c| !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control()),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if classes < self.min_classes as usize {
            return Err(ApiError::PasswordPolicy(format!(
                "the password must mix at least {} of: lower case, upper case, digits, symbols",
                self.min_classes
            )));
        }
        if !staff_no.is_empty() && password.to_lowercase().contains(&staff_no.to_lowercase()) {
            return Err(ApiError::PasswordPolicy(
                "the password must not contain the staff number".into(),
            ));
        }
        Ok(())
    }
}

/// A random password that meets any policy up to 4 classes and 20 characters.
pub fn generate() -> String {
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    const SYMBOL: &[u8] = b"!@#%^*-_=+";
    let mut rng = rand::thread_rng();
    let mut chars: Vec<u8> = Vec::with_capacity(20);
    for set in [LOWER, UPPER, DIGIT, SYMBOL] {
        for _ in 0..5 {
            chars.push(set[rng.gen_range(0..set.len())]);
        }
    }
    chars.shuffle(&mut rng);
    String::from_utf8(chars).expect("ascii")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_checks_length_classes_and_staff_no() {
        let p = PasswordPolicy::default();
        assert!(p.check_shape("Short1!", "x").is_err());
        assert!(p.check_shape("alllowercaseletters", "x").is_err());
        assert!(p.check_shape("Good-Password-2024", "x").is_ok());
        assert!(p.check_shape("Good-E1001-Pass", "e1001").is_err());
        assert!(p.check_shape("Spaces Are Not Symbols", "x").is_err());
        assert!(p.check_shape("Spaces And Digits 12", "x").is_ok());
        assert!(p.check_shape(&generate(), "admin").is_ok());
    }

    fn cheap(max_parallel_hashes: usize) -> Hasher {
        Hasher::new(&PasswordConfig {
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            max_parallel_hashes,
        })
    }

    #[tokio::test]
    async fn hashing_waits_for_a_turn() {
        let h = cheap(2);
        let phc = h.hash("Secret-123").await.unwrap();
        let taken = h.running.clone().acquire_many_owned(2).await.unwrap();
        let waiting = tokio::spawn({
            let h = h.clone();
            async move { h.verify("Secret-123", &phc).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!waiting.is_finished(), "no turn, no hash");
        drop(taken);
        assert!(waiting.await.unwrap());
    }

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let h = cheap(8);
        let a = h.hash("Secret-123").await.unwrap();
        let b = h.hash("Secret-123").await.unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(h.verify("Secret-123", &a).await);
        assert!(!h.verify("Secret-124", &a).await);
    }
}
