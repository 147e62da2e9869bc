//! The centers whose code the loader runs: the number and card centers'
//! states over the shared parts. The loader serves no HTTP API.

use haoka_card::CardState;
use haoka_core::config::Config;
use haoka_core::state::{Shared, StartError};
use haoka_number::NumberState;

#[derive(Clone)]
pub struct Centers {
    pub number: NumberState,
    pub card: CardState,
}

impl Centers {
    pub fn new(number: NumberState, card: CardState) -> Centers {
        Centers { number, card }
    }

    /// Connects, starts the number center (its cache listener and sweeper)
    /// and, unless `[outbox] relay` is off, the relay: the loader writes
    /// number events.
    pub async fn start(cfg: Config) -> Result<Centers, StartError> {
        let shared = Shared::connect(cfg).await?;
        let number = NumberState::new(shared.clone());
        haoka_number::start(&number)
            .await
            .map_err(|e| StartError::Database(e.to_string()))?;
        let card = CardState::new(shared.clone(), number.clone());
        if shared.relays(true) {
            shared.outbox.start_relay();
        }
        Ok(Centers { number, card })
    }
}

impl std::ops::Deref for Centers {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.number.shared
    }
}
