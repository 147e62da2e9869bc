//! Who is calling and what they may do: staff passwords and sessions, login
//! limits and the failed-password budget, channel request signatures and
//! the caller they prove (`actor`: staff or channel),
//! rate limits, permissions and the province data scope.

pub mod actor;
pub mod channel_sign;
pub mod login_guard;
pub mod login_limits;
pub mod password;
pub mod principal_cache;
pub mod rate_limit;
pub mod rbac;
pub mod scope;
pub mod session;
