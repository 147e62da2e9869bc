//! Who is calling a center: a staff member (behind a session, with their
//! province scope) or a channel (behind a signature, limited to its own
//! province).

use crate::auth::channel_sign::ChannelCaller;
use crate::auth::rbac::Principal;
use crate::problem::ApiError;

#[derive(Debug, Clone)]
pub enum Actor {
    Staff(Principal),
    Channel(ChannelCaller),
}

impl Actor {
    pub fn staff_id(&self) -> Option<i64> {
        match self {
            Actor::Staff(p) => Some(p.staff_id),
            Actor::Channel(_) => None,
        }
    }

    pub fn channel_id(&self) -> Option<i64> {
        match self {
            Actor::Staff(_) => None,
            Actor::Channel(c) => Some(c.channel_id),
        }
    }

    /// Whether data of `province` is visible to the caller.
    pub fn sees_province(&self, province: &str) -> bool {
        match self {
            Actor::Staff(p) => p.scope.allows(Some(province)),
            Actor::Channel(c) => c.province.as_deref().is_none_or(|own| own == province),
        }
    }

    /// Staff get a 403 naming the province; channels are told no more than
    /// that the number does not exist for them.
    pub fn check_province(&self, province: &str) -> Result<(), ApiError> {
        match self {
            Actor::Staff(p) => p.scope.check(Some(province)),
            Actor::Channel(_) if self.sees_province(province) => Ok(()),
            Actor::Channel(_) => Err(ApiError::OutOfScope(province.to_string())),
        }
    }

    /// The province a search defaults to.
    pub fn home_province(&self) -> Option<&str> {
        match self {
            Actor::Staff(p) => p.province.as_deref(),
            Actor::Channel(c) => c.province.as_deref(),
        }
    }
}
