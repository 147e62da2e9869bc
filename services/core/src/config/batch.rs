//! The batch loader's API settings (`[batch]` in the server config).

use serde::Deserialize;

/// `[batch]`: where uploads go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchApiConfig {
    /// The object-store drop's root (the loader's `kind = "local"` source).
    pub drop_dir: String,
    /// Largest upload, in bytes.
    pub max_upload_bytes: usize,
}

impl Default for BatchApiConfig {
    fn default() -> BatchApiConfig {
        BatchApiConfig {
            drop_dir: "var/batch-store".into(),
            max_upload_bytes: 64 * 1024 * 1024,
        }
    }
}
