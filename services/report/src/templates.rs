//! The report templates (报表模板): each names the logical tables it reads
//! through the proxy, its dimensions and measures (aggregates: one GROUP BY
//! that the proxy scatters to every shard and merges) or its columns
//! (details: rows streamed as they are), and which filters apply to which
//! column. Seeded into `report_template` at start-up so the catalogue is
//! visible in SQL too.

use mysql_async::prelude::Queryable;
use serde::Serialize;
use utoipa::ToSchema;

use super::table::{Column, Kind};
use haoka_core::db::Db;
use haoka_core::problem::ApiError;

/// One select item: its key and Chinese title, and the SQL that computes it.
pub struct Field {
    pub key: &'static str,
    pub title: &'static str,
    pub sql: &'static str,
    pub kind: Kind,
}

const fn text(key: &'static str, title: &'static str, sql: &'static str) -> Field {
    Field {
        key,
        title,
        sql,
        kind: Kind::Text,
    }
}

const fn int(key: &'static str, title: &'static str, sql: &'static str) -> Field {
    Field {
        key,
        title,
        sql,
        kind: Kind::Int,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Counts and sums grouped by the dimensions.
    Aggregate,
    /// One row per number or card (明细), streamed.
    Detail,
}

/// A filter a request may send (see `filters::Filters`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKey {
    City,
    Pool,
    Depot,
    Status,
    Level,
    Channel,
}

pub struct Template {
    pub code: &'static str,
    pub name: &'static str,
    pub shape: Shape,
    /// FROM clause (logical tables; joins only on shard keys).
    pub from: &'static str,
    /// The column province scope and `province_code` filters apply to.
    pub province_col: &'static str,
    /// A condition every row meets (empty: none).
    pub base: &'static str,
    /// The column `from` / `to` dates filter on, if the template has one.
    pub date_col: Option<&'static str>,
    pub dims: &'static [Field],
    pub measures: &'static [Field],
    pub filters: &'static [(FilterKey, &'static str)],
    /// A trend whose closed days are kept in a statistics table.
    pub daily: Option<&'static Daily>,
}

/// The statistics table (统计结果存储) a trend template reads its closed
/// days from, filled by the daily roll-up (`rollup.rs`); the template's own
/// tables give the other days (see `plan.rs`).
pub struct Daily {
    /// The statistics table (sharded by province like the rows it counts).
    pub from: &'static str,
    /// Its select items, in the template's order (dimensions, measures);
    /// the first is the day.
    pub items: &'static [&'static str],
    /// Its columns for the template's filters.
    pub filters: &'static [(FilterKey, &'static str)],
    pub live: Live,
}

/// What the template's own tables give besides the statistics table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// Any day by the template's date column (history): the days not yet
    /// rolled up, today among them.
    ByDate,
    /// The current state (no date column): today's row only; a closed day
    /// has the rows of its snapshot, if one was taken.
    Today,
}

impl Template {
    pub fn columns(&self) -> Vec<Column> {
        self.dims
            .iter()
            .chain(self.measures)
            .map(|f| Column {
                key: f.key,
                title: f.title,
                kind: f.kind,
            })
            .collect()
    }

    pub fn kinds(&self) -> Vec<Kind> {
        self.dims
            .iter()
            .chain(self.measures)
            .map(|f| f.kind)
            .collect()
    }
}

use FilterKey::*;

const NUMBER_FILTERS: &[(FilterKey, &str)] = &[
    (City, "city_code"),
    (Pool, "pool_id"),
    (Depot, "depot_id"),
    (Status, "status"),
    (Level, "premium_level"),
];
/// The columns the daily status snapshot keeps (and phone_number has).
const STATUS_TREND_FILTERS: &[(FilterKey, &str)] = &[
    (Pool, "pool_id"),
    (Status, "status"),
    (Level, "premium_level"),
];
const CARD_FILTERS: &[(FilterKey, &str)] =
    &[(City, "city_code"), (Depot, "depot_id"), (Status, "status")];

pub const TEMPLATES: &[Template] = &[
    Template {
        code: "number_status",
        name: "号码状态统计",
        shape: Shape::Aggregate,
        from: "phone_number",
        province_col: "province_code",
        base: "",
        date_col: None,
        dims: &[
            text("province_code", "省份", "province_code"),
            text("city_code", "地市", "city_code"),
            text("pool_id", "号码池", "pool_id"),
            text("depot_id", "库位", "depot_id"),
            int("premium_level", "靓号等级", "premium_level"),
            text("status", "号码状态", "status"),
        ],
        measures: &[int("numbers", "号码数", "COUNT(*)")],
        filters: NUMBER_FILTERS,
        daily: None,
    },
    Template {
        code: "pool_sales",
        name: "池销售统计",
        shape: Shape::Aggregate,
        from: "number_history h JOIN phone_number p \
               ON p.phone_no = h.phone_no AND p.province_code = h.province_code \
               JOIN premium_level l ON l.level = p.premium_level",
        province_col: "h.province_code",
        base: "h.action = 'sell'",
        date_col: Some("h.created_at"),
        dims: &[
            text("day", "日期", "DATE(h.created_at)"),
            text("province_code", "省份", "h.province_code"),
            text("channel_id", "渠道", "h.channel_id"),
            text("pool_id", "号码池", "p.pool_id"),
            int("premium_level", "靓号等级", "p.premium_level"),
        ],
        measures: &[
            int("sold", "销售量", "COUNT(*)"),
            int("deposit_cents", "预存款(分)", "SUM(l.pre_deposit_cents)"),
        ],
        filters: &[
            (City, "p.city_code"),
            (Pool, "p.pool_id"),
            (Level, "p.premium_level"),
            (Channel, "h.channel_id"),
        ],
        daily: None,
    },
    Template {
        code: "premium",
        name: "靓号统计",
        shape: Shape::Aggregate,
        from: "phone_number",
        province_col: "province_code",
        base: "premium_level < 9",
        date_col: None,
        dims: &[
            text("province_code", "省份", "province_code"),
            int("premium_level", "靓号等级", "premium_level"),
            text("status", "号码状态", "status"),
        ],
        measures: &[int("numbers", "号码数", "COUNT(*)")],
        filters: NUMBER_FILTERS,
        daily: None,
    },
    Template {
        code: "waivers",
        name: "靓号减免统计",
        shape: Shape::Aggregate,
        from: "premium_waiver",
        province_col: "province_code",
        base: "",
        date_col: Some("requested_at"),
        dims: &[
            text("province_code", "省份", "province_code"),
            text("status", "审批状态", "status"),
            text("decided_by", "审批人", "decided_by"),
        ],
        measures: &[
            int("waivers", "减免笔数", "COUNT(*)"),
            int(
                "deposit_waived_cents",
                "减免预存(分)",
                "SUM(deposit_waived_cents)",
            ),
            int(
                "monthly_waived_cents",
                "减免月费(分)",
                "SUM(monthly_waived_cents)",
            ),
        ],
        filters: &[],
        daily: None,
    },
    Template {
        code: "card_stock",
        name: "成卡库存统计",
        shape: Shape::Aggregate,
        from: "sim_card",
        province_col: "province_code",
        base: "",
        date_col: None,
        dims: &[
            text("province_code", "省份", "province_code"),
            text("depot_id", "库位", "depot_id"),
            text("status", "卡状态", "status"),
            text("card_type", "卡类型", "card_type"),
        ],
        measures: &[int("cards", "卡数", "COUNT(*)")],
        filters: CARD_FILTERS,
        daily: None,
    },
    Template {
        code: "bundles",
        name: "套包库存统计",
        shape: Shape::Aggregate,
        from: "sim_card",
        province_col: "province_code",
        base: "package_id IS NOT NULL",
        date_col: None,
        dims: &[
            text("province_code", "省份", "province_code"),
            text("package_id", "套包", "package_id"),
            text("status", "卡状态", "status"),
        ],
        measures: &[int("cards", "卡数", "COUNT(*)")],
        filters: CARD_FILTERS,
        daily: None,
    },
    Template {
        code: "transfers",
        name: "成卡调拨统计",
        shape: Shape::Aggregate,
        from: "card_transfer",
        province_col: "province_code",
        base: "",
        date_col: Some("created_at"),
        dims: &[
            text("province_code", "调出省份", "province_code"),
            text("target_province_code", "调入省份", "target_province_code"),
            text("status", "调拨状态", "status"),
        ],
        measures: &[
            int("transfers", "调拨单数", "COUNT(*)"),
            int("cards", "卡数", "SUM(card_count)"),
        ],
        filters: &[(Depot, "from_depot_id")],
        daily: None,
    },
    Template {
        code: "channel_activity",
        name: "销售统计",
        shape: Shape::Aggregate,
        from: "number_history",
        province_col: "province_code",
        base: "action IN ('hold', 'sell', 'release', 'expire')",
        date_col: Some("created_at"),
        dims: &[
            text("day", "日期", "DATE(created_at)"),
            text("channel_id", "渠道", "channel_id"),
        ],
        measures: &[
            int(
                "holds",
                "选占",
                "SUM(CASE WHEN action = 'hold' THEN 1 ELSE 0 END)",
            ),
            int(
                "sales",
                "销售",
                "SUM(CASE WHEN action = 'sell' THEN 1 ELSE 0 END)",
            ),
            int(
                "releases",
                "释放",
                "SUM(CASE WHEN action = 'release' THEN 1 ELSE 0 END)",
            ),
            int(
                "expiries",
                "超时释放",
                "SUM(CASE WHEN action = 'expire' THEN 1 ELSE 0 END)",
            ),
        ],
        filters: &[(Channel, "channel_id")],
        daily: Some(&Daily {
            from: "report_daily_activity",
            items: &[
                "day",
                "NULLIF(channel_id, 0)",
                "SUM(holds)",
                "SUM(sales)",
                "SUM(releases)",
                "SUM(expiries)",
            ],
            filters: &[(Channel, "channel_id")],
            live: Live::ByDate,
        }),
    },
    Template {
        code: "number_status_trend",
        name: "号码状态趋势",
        shape: Shape::Aggregate,
        from: "phone_number",
        province_col: "province_code",
        base: "",
        date_col: None,
        dims: &[
            // Live::Today: the plan puts today's date here.
            text("day", "日期", "UTC_DATE()"),
            text("province_code", "省份", "province_code"),
            text("pool_id", "号码池", "pool_id"),
            int("premium_level", "靓号等级", "premium_level"),
            text("status", "号码状态", "status"),
        ],
        measures: &[int("numbers", "号码数", "COUNT(*)")],
        filters: STATUS_TREND_FILTERS,
        daily: Some(&Daily {
            from: "report_daily_status",
            items: &[
                "day",
                "province_code",
                "NULLIF(pool_id, 0)",
                "premium_level",
                "status",
                "SUM(numbers)",
            ],
            filters: STATUS_TREND_FILTERS,
            live: Live::Today,
        }),
    },
    Template {
        code: "number_detail",
        name: "号码明细",
        shape: Shape::Detail,
        from: "phone_number",
        province_col: "province_code",
        base: "",
        date_col: None,
        dims: &[
            text("phone_no", "号码", "phone_no"),
            text("province_code", "省份", "province_code"),
            text("city_code", "地市", "city_code"),
            text("status", "号码状态", "status"),
            int("premium_level", "靓号等级", "premium_level"),
            text("pool_id", "号码池", "pool_id"),
            text("depot_id", "库位", "depot_id"),
        ],
        measures: &[],
        filters: NUMBER_FILTERS,
        daily: None,
    },
    Template {
        code: "card_detail",
        name: "成卡明细",
        shape: Shape::Detail,
        from: "sim_card",
        province_col: "province_code",
        base: "",
        date_col: None,
        dims: &[
            text("iccid", "ICCID", "iccid"),
            text("imsi", "IMSI", "imsi"),
            text("province_code", "省份", "province_code"),
            text("city_code", "地市", "city_code"),
            text("depot_id", "库位", "depot_id"),
            text("status", "卡状态", "status"),
            text("card_type", "卡类型", "card_type"),
            text("package_id", "套包", "package_id"),
            text("paired_phone_no", "预配号码", "paired_phone_no"),
        ],
        measures: &[],
        filters: CARD_FILTERS,
        daily: None,
    },
];

pub fn find(code: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.code == code)
}

/// Writes missing templates into `report_template` (several servers may
/// start at once: a row another one inserted first is fine).
pub async fn seed(db: &Db) -> Result<(), ApiError> {
    let mut c = db.conn().await?;
    for t in TEMPLATES {
        let have: Option<i64> = c
            .exec_first(
                "SELECT template_id FROM report_template WHERE code = ?",
                (t.code,),
            )
            .await?;
        if have.is_some() {
            continue;
        }
        let keys = |fs: &[Field]| fs.iter().map(|f| f.key).collect::<Vec<_>>().join(",");
        let r = c
            .exec_drop(
                "INSERT INTO report_template (code, name, dimensions, measures) VALUES (?, ?, ?, ?)",
                (t.code, t.name, keys(t.dims), keys(t.measures)),
            )
            .await
            .map_err(ApiError::from);
        match r {
            Ok(()) | Err(ApiError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The id of a template's row.
pub async fn id_of<Q: Queryable>(c: &mut Q, code: &str) -> Result<i64, ApiError> {
    c.exec_first(
        "SELECT template_id FROM report_template WHERE code = ?",
        (code,),
    )
    .await?
    .ok_or_else(|| ApiError::not_found("report template", code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_codes_are_unique_and_fit_the_table() {
        let mut codes: Vec<_> = TEMPLATES.iter().map(|t| t.code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), TEMPLATES.len());
        for t in TEMPLATES {
            assert!(t.code.len() <= 32);
            let dims: Vec<_> = t.dims.iter().map(|f| f.key).collect();
            assert!(dims.join(",").len() <= 128, "{}", t.code);
            assert_eq!(
                t.shape == Shape::Detail,
                t.measures.is_empty(),
                "{}",
                t.code
            );
            if let Some(d) = t.daily {
                assert_eq!(d.items.len(), t.dims.len() + t.measures.len(), "{}", t.code);
                assert_eq!((d.items[0], t.dims[0].key), ("day", "day"), "{}", t.code);
                assert_eq!(d.live == Live::ByDate, t.date_col.is_some(), "{}", t.code);
            }
        }
    }
}
