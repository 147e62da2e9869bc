//! Card center settings (`[card]` in the server config).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardConfig {
    /// Most cards one intake call takes.
    pub max_intake: usize,
    /// Most cards one status change or depot move names.
    pub max_per_request: usize,
    /// Largest page of a card listing.
    pub max_page_size: u32,
}

impl Default for CardConfig {
    fn default() -> Self {
        CardConfig {
            max_intake: 10_000,
            max_per_request: 1000,
            max_page_size: 500,
        }
    }
}
