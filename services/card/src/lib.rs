//! The card center (卡中心): SIM cards sharded by province, found by ICCID
//! through the proxy's global index.
//!
//! Folder map: `status`/`transition` are the domain codes and the transition
//! table; `iccid` checks ICCIDs and IMSIs; `store` reads and changes card
//! rows; `history` writes 卡历史 rows (every writer uses it, transfers too);
//! `depots` and `packages` read 库位 and 套包; `availability` judges
//! 成卡可用验证 and `occupy` applies 成卡占用 and its return; `pairing` is
//! 预配号卡 and 套包 (number and card in one transaction); `list` pages
//! cards; `intake` (成卡入库) and `change` (status, 库位变更) are the staff
//! endpoints; `transfer` is 成卡调拨 (local, or a half transaction across
//! provinces); `migrate` adds at start-up the columns older tables lack;
//! `routes` mounts it all.

pub mod availability;
pub mod change;
pub mod depots;
pub mod doc;
pub mod history;
pub mod iccid;
pub mod intake;
pub mod list;
pub mod migrate;
pub mod occupy;
pub mod packages;
pub mod pairing;
pub mod routes;
pub mod status;
pub mod store;
pub mod transfer;
pub mod transition;

/// The `[card]` settings: plain data, kept with the other sections in
/// haoka-core's config.
pub use haoka_core::config::card as config;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::Value;

use self::iccid::Iccid;
use self::store::Card;
use haoka_core::auth::scope::Scope;
use haoka_core::problem::ApiError;
use haoka_core::state::Shared;
use haoka_number::NumberState;

pub use routes::router;

/// The card center's per-process state.
pub struct CardCenter {
    pub cfg: config::CardConfig,
}

impl CardCenter {
    pub fn new(cfg: &config::CardConfig) -> CardCenter {
        CardCenter { cfg: cfg.clone() }
    }
}

/// The card center's state: the shared parts, its own, and the number
/// center it pairs numbers with (through that center's public API).
#[derive(Clone)]
pub struct CardState(pub Arc<CardInner>);

pub struct CardInner {
    pub shared: Shared,
    pub center: CardCenter,
    pub number: NumberState,
}

impl CardState {
    pub fn new(shared: Shared, number: NumberState) -> CardState {
        CardState(Arc::new(CardInner {
            center: CardCenter::new(&shared.cfg.card),
            shared,
            number,
        }))
    }
}

impl std::ops::Deref for CardState {
    type Target = CardInner;
    fn deref(&self) -> &CardInner {
        &self.0
    }
}

impl std::ops::Deref for CardInner {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// Parses an ICCID from a path or body (a bad one is a 400 naming why).
pub fn parse_iccid(raw: &str) -> Result<Iccid, ApiError> {
    Iccid::parse(raw).map_err(|e| ApiError::Invalid(format!("iccid {raw:?}: {e}")))
}

/// The card behind an ICCID, visible in `scope` (404 if there is none).
pub async fn get_card(state: &CardState, scope: &Scope, raw: &str) -> Result<Card, ApiError> {
    let iccid = parse_iccid(raw)?;
    let mut c = state.db.conn().await?;
    let card = store::find(&mut c, iccid.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("card", &iccid))?;
    scope.check(Some(&card.province_code))?;
    Ok(card)
}

/// Parses a request's ICCID list (400 on a bad or repeated one, or a list
/// of the wrong size).
pub fn parse_list(raw: &[String], max: usize) -> Result<Vec<Iccid>, ApiError> {
    haoka_core::validate::check_count("iccids", raw.len(), max)?;
    let mut seen = HashSet::new();
    raw.iter()
        .map(|r| {
            let i = parse_iccid(r)?;
            if !seen.insert(i.clone()) {
                return Err(ApiError::Invalid(format!("{i} is listed twice")));
            }
            Ok(i)
        })
        .collect()
}

/// The province of each listed card that exists (through the global index),
/// grouped by province; every province must be in `scope`.
pub async fn provinces_of(
    state: &CardState,
    scope: &Scope,
    iccids: &[Iccid],
) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let mut c = state.db.conn().await?;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for chunk in iccids.chunks(500) {
        let rows: Vec<(String, String)> = c
            .exec(
                format!(
                    "SELECT iccid, province_code FROM sim_card WHERE iccid IN ({})",
                    haoka_core::db::marks(chunk.len())
                ),
                chunk
                    .iter()
                    .map(|i| Value::from(i.as_str()))
                    .collect::<Vec<_>>(),
            )
            .await?;
        for (iccid, province) in rows {
            out.entry(province).or_default().push(iccid);
        }
    }
    for p in out.keys() {
        scope.check(Some(p))?;
    }
    Ok(out)
}
