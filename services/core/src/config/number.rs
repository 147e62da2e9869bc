//! Number center settings (`[number]` in the server config).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NumberConfig {
    /// Hold deadline of a staff hold when the request names none.
    pub hold_default_seconds: u64,
    /// Longest hold staff may ask for (channels: their `hold_minutes`).
    pub hold_max_seconds: u64,
    /// Longest a hold may last in all, from when it began: extends stop
    /// there (for staff and channels alike).
    pub hold_max_total_seconds: u64,
    /// 冷冻 aging: how long a cancelled number waits before it is back on the shelf.
    pub frozen_aging_seconds: u64,
    /// How often the sweeper looks for expired holds and aged frozen numbers.
    pub sweep_interval_ms: u64,
    /// Safety-net lifetime of a cached shelf (invalidation messages do the real work).
    pub shelf_cache_ttl_seconds: u64,
    /// How long the invalidation sender gathers announcements into one
    /// RabbitMQ message (other processes see a change this much later).
    pub invalidation_linger_ms: u64,
    /// Lifetime of a caller's cached pool grants.
    pub grant_cache_ttl_seconds: u64,
    /// Anti-grabbing: most numbers one selection call returns...
    pub max_results_per_call: u32,
    /// ...and how deep paging may go (page × page_size).
    pub max_result_window: u32,
    /// Most numbers one intake call takes.
    pub max_intake: usize,
}

impl Default for NumberConfig {
    fn default() -> Self {
        NumberConfig {
            hold_default_seconds: 30 * 60,
            hold_max_seconds: 7 * 24 * 3600,
            hold_max_total_seconds: 7 * 24 * 3600,
            frozen_aging_seconds: 90 * 24 * 3600,
            sweep_interval_ms: 5000,
            shelf_cache_ttl_seconds: 30,
            invalidation_linger_ms: 10,
            grant_cache_ttl_seconds: 10,
            max_results_per_call: 50,
            max_result_window: 500,
            max_intake: 10_000,
        }
    }
}
