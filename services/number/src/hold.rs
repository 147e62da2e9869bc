//! 选占 holds and 实占 sales. Each is decided by one conditional UPDATE on the
//! number's shard (through the proxy) — never by a cache — with its history
//! row in the same local transaction; when the UPDATE changes nothing, a read
//! of the row says why, as the number center's result code.

use mysql_async::prelude::Queryable;
use mysql_async::Value;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::Deserialize;

use super::access::PoolRights;
use super::events::{self, NumberSold};
use super::history::{self, Entry};
use super::shelf_cache::ShelfKey;
use super::status::{NumberStatus, ResultCode};
use super::transition::{self, Door};
use super::{locate, NumberResult};
use crate::NumberState;
use haoka_core::auth::actor::Actor;
use haoka_core::auth::rbac::{Permission, Principal};
use haoka_core::db::col;
use haoka_core::db::marks;
use haoka_core::oplog::{self, Change};
use haoka_core::problem::ApiError;

/// What a hold key is.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// The server draws a random code and returns it.
    Random,
    CustomerId,
    OrderId,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    pub key_kind: Option<KeyKind>,
    pub key: Option<String>,
    /// Hold length; default: the channel's hold_minutes, or the server's
    /// default for staff.
    pub hold_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub key: String,
    /// For extend: the new remaining time.
    #[schema(schema_with = super::doc::hold_seconds)]
    pub hold_seconds: Option<u64>,
}

/// The operations on an existing hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Extend,
    Release,
    Sell,
}

fn check_key(key: &str) -> Result<(), ApiError> {
    haoka_core::validate::code("key", key, 64)
}

fn random_key() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(16)
        .map(char::from)
        .collect()
}

/// The hold length a caller may have.
async fn hold_seconds(
    state: &NumberState,
    actor: &Actor,
    asked: Option<u64>,
) -> Result<u64, ApiError> {
    let (default, max) = match actor {
        Actor::Staff(_) => (
            state.center.cfg.hold_default_seconds,
            state.center.cfg.hold_max_seconds,
        ),
        Actor::Channel(ch) => {
            let mut c = state.db.conn().await?;
            let minutes: Option<i64> = c
                .exec_first(
                    "SELECT hold_minutes FROM channel WHERE channel_id = ?",
                    (ch.channel_id,),
                )
                .await?;
            let s = minutes.unwrap_or(30).max(1) as u64 * 60;
            (s, s)
        }
    };
    match asked {
        None => Ok(default),
        Some(s) if (1..=max).contains(&s) => Ok(s),
        Some(s) => Err(ApiError::Invalid(format!(
            "hold_seconds must be 1 to {max} (got {s})"
        ))),
    }
}

/// `AND (pool_id IS NULL OR pool_id IN (...))` for a caller without every pool.
fn pool_condition(rights: &PoolRights, params: &mut Vec<Value>) -> String {
    match rights.usable() {
        None => String::new(),
        Some(v) if v.is_empty() => " AND pool_id IS NULL".into(),
        Some(v) => {
            let s = format!(" AND (pool_id IS NULL OR pool_id IN ({}))", marks(v.len()));
            params.extend(v.into_iter().map(Value::from));
            s
        }
    }
}

/// The row as the authorisation and failure classification need it.
struct Current {
    status: NumberStatus,
    pool: Option<i64>,
    hold_key: Option<String>,
    hold_channel: Option<i64>,
    hold_staff: Option<i64>,
    expired: bool,
    deadline: Option<haoka_core::time::Timestamp>,
}

async fn current<Q: Queryable>(c: &mut Q, no: &str) -> Result<Option<Current>, ApiError> {
    read_current(c, no, "").await
}

/// The row, locked until the transaction ends.
async fn current_locked<Q: Queryable>(c: &mut Q, no: &str) -> Result<Option<Current>, ApiError> {
    read_current(c, no, " FOR UPDATE").await
}

async fn read_current<Q: Queryable>(
    c: &mut Q,
    no: &str,
    lock: &str,
) -> Result<Option<Current>, ApiError> {
    let row: Option<mysql_async::Row> = c
        .exec_first(
            format!(
                concat!(
                    "SELECT status, pool_id, hold_key, hold_channel_id, hold_staff_id, \
                     (hold_deadline IS NOT NULL AND hold_deadline <= NOW(3)), ",
                    haoka_core::ts_col!("hold_deadline"),
                    " FROM phone_number WHERE phone_no = ?{lock}"
                ),
                lock = lock
            ),
            (no,),
        )
        .await?;
    Ok(row.and_then(|r| {
        Some(Current {
            status: NumberStatus::from_code(&col::<String>(&r, 0))?,
            pool: col(&r, 1),
            hold_key: col(&r, 2),
            hold_channel: col(&r, 3),
            hold_staff: col(&r, 4),
            expired: col::<i64>(&r, 5) != 0,
            deadline: col(&r, 6),
        })
    }))
}

/// On what ground a staff member acts on a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StaffGround {
    /// Their own hold, in a pool they may still use.
    Own,
    /// A colleague's hold in a pool they may operate.
    Operator,
    /// A channel's hold: `number:hold_override` and operate rights on the
    /// pool; written to the operation log.
    Override,
}

/// Whether staff member `p` may act on the hold `cur` (a channel's hold is
/// only its channel's, or an override's); the code to answer otherwise.
fn staff_ground(
    p: &Principal,
    cur: &Current,
    rights: &PoolRights,
) -> Result<StaffGround, ResultCode> {
    match cur.hold_channel {
        Some(_) if p.has(Permission::NumberHoldOverride) && rights.can_operate(cur.pool) => {
            Ok(StaffGround::Override)
        }
        Some(_) => Err(ResultCode::WrongChannel),
        None if cur.hold_staff == Some(p.staff_id) && rights.can_use(cur.pool) => {
            Ok(StaffGround::Own)
        }
        None if rights.can_operate(cur.pool) => Ok(StaffGround::Operator),
        None => Err(ResultCode::WrongChannel),
    }
}

/// Whether the caller owns (or may act on) the hold `cur` stands for.
fn may_act(actor: &Actor, cur: &Current, rights: &PoolRights) -> bool {
    match actor {
        Actor::Channel(c) => cur.hold_channel == Some(c.channel_id),
        Actor::Staff(p) => staff_ground(p, cur, rights).is_ok(),
    }
}

fn result(code: ResultCode, no: &str, cur: Option<&Current>) -> NumberResult {
    let mut r = NumberResult::new(code, no);
    if let Some(c) = cur {
        r.status = Some(c.status);
    }
    r
}

/// 选占: on shelf → held under `key`.
pub async fn hold(
    state: &NumberState,
    actor: &Actor,
    raw_no: &str,
    req: HoldRequest,
) -> Result<NumberResult, ApiError> {
    let key = match (req.key_kind.unwrap_or(KeyKind::Random), req.key) {
        (KeyKind::Random, None) => random_key(),
        (_, Some(k)) => k,
        (kind, None) => {
            return Err(ApiError::Invalid(format!(
                "key is required for key_kind {kind:?}"
            )))
        }
    };
    check_key(&key)?;
    let l = locate(state, raw_no).await?;
    let no = l.no.as_str();
    if !actor.sees_province(&l.area.province) {
        actor.check_province(&l.area.province)?;
    }
    let seconds = hold_seconds(state, actor, req.hold_seconds).await?;
    let t = transition::check(NumberStatus::OnShelf, NumberStatus::Held, Door::Hold)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let rights = state.center.grants.rights(&state.db, actor).await?;
    // The deadline is a value, not NOW() + n on the shard, so a won hold
    // needs no read-back to answer with it.
    let now = state.center.clock.now(&state.db).await?;
    let deadline = now.plus_seconds(seconds);
    let mut params: Vec<Value> = vec![
        t.to.code().into(),
        key.as_str().into(),
        actor.channel_id().into(),
        actor.staff_id().into(),
        deadline.sql().into(),
        now.sql().into(),
        no.into(),
        t.from.code().into(),
    ];
    let pools = pool_condition(&rights, &mut params);
    let mut tx = state.db.begin().await?;
    tx.exec_drop(
        format!(
            "UPDATE phone_number SET status = ?, hold_key = ?, hold_channel_id = ?, \
             hold_staff_id = ?, hold_deadline = ?, held_at = ?, \
             version = version + 1 WHERE phone_no = ? AND status = ?{pools}"
        ),
        params,
    )
    .await?;
    if tx.affected_rows() == 1 {
        history::write(
            &mut tx,
            &[Entry {
                phone_no: no.to_string(),
                province: l.area.province.clone(),
                from: Some(t.from),
                to: t.to,
                action: t.action,
                hold_key: Some(key.clone()),
                channel_id: actor.channel_id(),
                staff_id: actor.staff_id(),
                detail: Some(format!("{seconds} s")),
            }],
        )
        .await?;
        tx.commit().await?;
        // Which pool's shelf lost the number is not known without the row:
        // the city's shelves skip it.
        state
            .center
            .announce_taken(&l.area.province, &l.area.city, l.no);
        let mut r = NumberResult::new(ResultCode::Ok, no);
        r.status = Some(NumberStatus::Held);
        r.hold_key = Some(key);
        r.hold_deadline = Some(deadline.api());
        return Ok(r);
    }
    tx.rollback().await?;
    let mut c = state.db.conn().await?;
    let cur = current(&mut c, no).await?;
    let Some(cur) = cur else {
        return Ok(NumberResult::new(ResultCode::NoSuchResource, no));
    };
    if !rights.can_view(cur.pool) {
        return Ok(NumberResult::new(ResultCode::NoSuchResource, no));
    }
    use NumberStatus::*;
    let code = match cur.status {
        Held if cur.hold_key.as_deref() == Some(key.as_str())
            && cur.hold_channel == actor.channel_id()
            && cur.hold_staff == actor.staff_id()
            && !cur.expired =>
        {
            // The same key holding again (a retried call): already theirs.
            let mut r = result(ResultCode::Ok, no, Some(&cur));
            r.hold_key = Some(key);
            r.hold_deadline = cur.deadline;
            return Ok(r);
        }
        Held | PreOccupied | OccupiedInactive | Occupied => ResultCode::Taken,
        OnShelf if !rights.can_use(cur.pool) => ResultCode::WrongChannel,
        // Back on the shelf between the UPDATE and the read: someone else's
        // hold just ended; the caller may simply retry.
        OnShelf => ResultCode::Taken,
        Idle | Reserved | PendingApproval => ResultCode::NotForSale,
        _ => ResultCode::StateNotUsable,
    };
    Ok(result(code, no, Some(&cur)))
}

/// Extend, release or sell a hold; only the holding key may, and a
/// channel's hold only for that channel (or staff overriding it, logged).
/// Staff act on their own holds, on colleagues' in pools they operate, and
/// decide it under the row lock; a channel's call is one conditional UPDATE.
pub async fn act(
    state: &NumberState,
    actor: &Actor,
    raw_no: &str,
    op: Op,
    req: KeyRequest,
) -> Result<NumberResult, ApiError> {
    check_key(&req.key)?;
    let l = locate(state, raw_no).await?;
    let no = l.no.as_str();
    if !actor.sees_province(&l.area.province) {
        actor.check_province(&l.area.province)?;
    }
    // Asked for any op, the length must make sense (the schema says 1..max).
    let asked = match req.hold_seconds {
        Some(_) => Some(hold_seconds(state, actor, req.hold_seconds).await?),
        None => None,
    };
    let seconds = match op {
        Op::Extend => Some(match asked {
            Some(s) => s,
            None => hold_seconds(state, actor, None).await?,
        }),
        _ => None,
    };
    // What each op writes; the status change itself comes from the table.
    let (set, to, live_only) = match op {
        // Extending never brings the deadline forward, and stops at the
        // total hold length from when the hold began.
        Op::Extend => (
            "hold_deadline = GREATEST(hold_deadline, LEAST(DATE_ADD(NOW(3), INTERVAL ? SECOND), \
             DATE_ADD(COALESCE(held_at, NOW(3)), INTERVAL ? SECOND)))",
            NumberStatus::Held,
            true,
        ),
        // Back on the shelf, like an expired hold (DESIGN.md §6): the number
        // was never used, so it does not age in 冷冻.
        Op::Release => (
            "hold_key = NULL, hold_channel_id = NULL, hold_staff_id = NULL, \
             hold_deadline = NULL, held_at = NULL",
            NumberStatus::OnShelf,
            false,
        ),
        Op::Sell => (
            "hold_deadline = NULL, held_at = NULL",
            NumberStatus::Occupied,
            true,
        ),
    };
    let action = match op {
        Op::Extend => super::transition::Action::Extend,
        _ => {
            transition::check(NumberStatus::Held, to, Door::Hold)
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .action
        }
    };
    let mut params: Vec<Value> = vec![to.code().into()];
    if let Some(s) = seconds {
        params.push(s.into());
        params.push(state.center.cfg.hold_max_total_seconds.into());
    }
    params.push(no.into());
    params.push(NumberStatus::Held.code().into());
    params.push(req.key.as_str().into());
    let mut cond = String::new();
    if let Some(ch) = actor.channel_id() {
        cond.push_str(" AND hold_channel_id = ?");
        params.push(ch.into());
    }
    if live_only {
        cond.push_str(" AND hold_deadline > NOW(3)");
    }
    let rights = state.center.grants.rights(&state.db, actor).await?;
    let mut tx = state.db.begin().await?;
    // Staff: the hold as it stands (locked), and on what ground they touch it.
    let mut seen = None;
    let mut ground = None;
    if let Actor::Staff(p) = actor {
        let cur = current_locked(&mut tx, no).await?;
        if let Some(cur) = cur.as_ref().filter(|c| {
            c.status == NumberStatus::Held && c.hold_key.as_deref() == Some(req.key.as_str())
        }) {
            match staff_ground(p, cur, &rights) {
                Ok(g) => ground = Some(g),
                Err(code) => {
                    tx.rollback().await?;
                    if !rights.can_view(cur.pool) {
                        return Ok(NumberResult::new(ResultCode::NoSuchResource, no));
                    }
                    return Ok(result(code, no, Some(cur)));
                }
            }
        }
        seen = Some(cur);
    }
    tx.exec_drop(
        format!(
            "UPDATE phone_number SET status = ?, {set}, version = version + 1 \
             WHERE phone_no = ? AND status = ? AND hold_key = ?{cond}"
        ),
        params,
    )
    .await?;
    if tx.affected_rows() == 1 {
        let after = current(&mut tx, no).await?;
        history::write(
            &mut tx,
            &[Entry {
                phone_no: no.to_string(),
                province: l.area.province.clone(),
                from: Some(NumberStatus::Held),
                to,
                action,
                hold_key: Some(req.key.clone()),
                channel_id: actor.channel_id(),
                staff_id: actor.staff_id(),
                detail: seconds.map(|s| format!("{s} s")),
            }],
        )
        .await?;
        if let (Actor::Staff(p), Some(StaffGround::Override), Some(Some(before))) =
            (actor, ground, &seen)
        {
            record_override(&mut tx, p, &l.area.province, no, op, before, to).await?;
        }
        if op == Op::Sell {
            let sold = NumberSold {
                phone_no: no.to_string(),
                province_code: l.area.province.clone(),
                city_code: l.area.city.clone(),
                pool_id: after.as_ref().and_then(|c| c.pool),
                hold_key: req.key.clone(),
                channel_id: actor.channel_id(),
                staff_id: actor.staff_id(),
            };
            events::write(&mut tx, &l.area.province, events::SOLD, &sold).await?;
        }
        if op == Op::Sell {
            state.outbox.commit(tx).await?; // with its number.sold event
        } else {
            tx.commit().await?;
        }
        if to == NumberStatus::OnShelf {
            // Released: back on its shelf for everyone.
            state
                .center
                .announce(std::collections::HashSet::from([ShelfKey {
                    province: l.area.province.clone(),
                    city: l.area.city.clone(),
                    pool: after.as_ref().and_then(|c| c.pool),
                }]));
        }
        let mut r = result(ResultCode::Ok, no, after.as_ref());
        r.hold_key = Some(req.key);
        r.hold_deadline = after.and_then(|c| c.deadline);
        return Ok(r);
    }
    tx.rollback().await?;
    let cur = match seen {
        Some(cur) => cur,
        None => {
            let mut c = state.db.conn().await?;
            current(&mut c, no).await?
        }
    };
    let Some(cur) = cur else {
        return Ok(NumberResult::new(ResultCode::NoSuchResource, no));
    };
    if !rights.can_view(cur.pool) {
        return Ok(NumberResult::new(ResultCode::NoSuchResource, no));
    }
    let same_key = cur.hold_key.as_deref() == Some(req.key.as_str());
    use NumberStatus::*;
    let code = match (cur.status, op) {
        (Held, _) if !same_key => ResultCode::Taken,
        (Held, _) if actor.channel_id().is_some() && cur.hold_channel != actor.channel_id() => {
            ResultCode::WrongChannel
        }
        // Same key, but the deadline has passed (the sweeper will shelve it).
        (Held, _) => ResultCode::StateNotUsable,
        // A sale repeated by its key: the earlier success, as holds answer.
        (Occupied, Op::Sell) if same_key && may_act(actor, &cur, &rights) => {
            let mut r = result(ResultCode::Ok, no, Some(&cur));
            r.hold_key = Some(req.key);
            return Ok(r);
        }
        (Idle | OnShelf, Op::Release) => ResultCode::FreeCannotRelease,
        (Occupied, Op::Release) => ResultCode::SoldCannotRelease,
        (OnShelf, _) => ResultCode::StateNotUsable,
        (PreOccupied | OccupiedInactive | Occupied, _) => ResultCode::Taken,
        (Reserved | PendingApproval, _) => ResultCode::NotForSale,
        _ => ResultCode::StateNotUsable,
    };
    Ok(result(code, no, Some(&cur)))
}

/// The operation-log row of a staff member acting on a channel's hold, in
/// the change's own transaction.
async fn record_override<Q: Queryable>(
    tx: &mut Q,
    p: &Principal,
    province: &str,
    no: &str,
    op: Op,
    before: &Current,
    to: NumberStatus,
) -> Result<(), ApiError> {
    let op_name = match op {
        Op::Extend => "extend",
        Op::Release => "release",
        Op::Sell => "sell",
    };
    oplog::record(
        tx,
        p,
        Change {
            action: "number.hold_override",
            object_kind: "number",
            object_id: no.to_string(),
            province: Some(province),
            before: Some(serde_json::json!({
                "status": before.status.code(),
                "hold_channel_id": before.hold_channel,
                "hold_staff_id": before.hold_staff,
            })),
            after: Some(serde_json::json!({ "op": op_name, "status": to.code() })),
        },
    )
    .await
}
