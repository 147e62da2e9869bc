//! The portal's menu tree (菜单), seeded at start-up: one group per center,
//! each page with the permission it needs, so nobody is shown a page they
//! may not use. Idempotent and additive: a missing group or page is added
//! (by title for groups, by path for pages); a page an older seed left at
//! the top level moves into its group; nothing an administrator added or
//! renamed is touched.

use mysql_async::prelude::Queryable;

use haoka_core::auth::rbac::Permission::{self, *};
use haoka_core::db::insert_id;
use haoka_core::problem::ApiError;

/// A page of the portal: title, route, the permission its page needs.
type Page = (&'static str, &'static str, Option<Permission>);

/// Groups in menu order; a group without a title is the top level.
const TREE: &[(Option<&str>, &[Page])] = &[
    (None, &[("工作台", "/dashboard", None)]),
    (
        Some("号码管理"),
        &[
            ("号码库存", "/numbers", Some(NumberRead)),
            ("选号", "/numbers/select", Some(NumberRead)),
            ("号码入库", "/numbers/intake", Some(NumberWrite)),
            ("状态与库位变更", "/numbers/change", Some(NumberWrite)),
            ("库位", "/numbers/depots", Some(NumberRead)),
            ("号码池", "/numbers/pools", Some(NumberRead)),
            ("靓号规则", "/numbers/premium", Some(PremiumRead)),
            ("减免审批", "/numbers/waivers", Some(PremiumApprove)),
        ],
    ),
    (
        Some("成卡管理"),
        &[
            ("成卡库存", "/cards", Some(CardRead)),
            ("成卡查询", "/cards/lookup", Some(CardRead)),
            ("成卡入库", "/cards/intake", Some(CardWrite)),
            ("成卡调拨", "/cards/transfers", Some(CardTransfer)),
            ("预配号卡", "/cards/pairing", Some(CardPair)),
            ("成卡可用验证", "/cards/availability", Some(CardRead)),
            ("套包", "/cards/packages", Some(CardRead)),
        ],
    ),
    (
        Some("权限管理"),
        &[
            ("员工管理", "/staff", Some(StaffRead)),
            ("部门管理", "/departments", Some(DepartmentRead)),
            ("角色权限", "/roles", Some(RoleRead)),
            ("菜单管理", "/menus", Some(MenuRead)),
            ("渠道管理", "/channels", Some(ChannelRead)),
            ("登录策略", "/login-policies", Some(PolicyRead)),
        ],
    ),
    (
        Some("报表中心"),
        &[
            ("报表任务", "/reports", Some(ReportRead)),
            ("统计查询", "/reports/stats", Some(ReportRead)),
            ("定时报表", "/reports/schedules", Some(ReportAdmin)),
        ],
    ),
    (Some("批量"), &[("批量任务", "/batch", Some(BatchRead))]),
    (Some("日志审计"), &[("日志查询", "/logs", Some(LogRead))]),
    (
        Some("运维监控"),
        &[
            ("死信队列", "/ops/dead-letters", Some(MqAdmin)),
            ("消息积压", "/ops/outbox", Some(MqAdmin)),
            ("分片状态", "/ops/shards", Some(OpsRead)),
        ],
    ),
];

/// The routes the seed gives a menu, with their permissions (for tests and
/// for the portal's own route table to agree with).
pub fn seeded_pages() -> impl Iterator<Item = (&'static str, Option<Permission>)> {
    TREE.iter()
        .flat_map(|(_, pages)| pages.iter().map(|(_, path, perm)| (*path, *perm)))
}

pub async fn ensure<Q: Queryable>(c: &mut Q) -> Result<(), ApiError> {
    for (gi, (group, pages)) in TREE.iter().enumerate() {
        let base = (gi as i64 + 1) * 100;
        let parent = match group {
            Some(title) => Some(group_id(c, title, base).await?),
            None => None,
        };
        for (pi, (title, path, perm)) in pages.iter().enumerate() {
            let sort = base + pi as i64 * 10;
            let found: Option<(i64, Option<i64>)> = c
                .exec_first(
                    "SELECT menu_id, parent_id FROM menu WHERE path = ? ORDER BY menu_id LIMIT 1",
                    (*path,),
                )
                .await?;
            match found {
                Some((id, None)) if parent.is_some() => {
                    c.exec_drop(
                        "UPDATE menu SET parent_id = ?, sort_order = ? WHERE menu_id = ? AND parent_id IS NULL",
                        (parent, sort, id),
                    )
                    .await?;
                }
                Some(_) => {}
                None => {
                    let pid = match perm {
                        Some(p) => Some(permission_id(c, p.code()).await?),
                        None => None,
                    };
                    c.exec_drop(
                        "INSERT INTO menu (parent_id, title, path, permission_id, sort_order) VALUES (?, ?, ?, ?, ?)",
                        (parent, *title, *path, pid, sort),
                    )
                    .await?;
                }
            }
        }
    }
    Ok(())
}

async fn group_id<Q: Queryable>(c: &mut Q, title: &str, sort: i64) -> Result<i64, ApiError> {
    let found: Option<i64> = c
        .exec_first(
            "SELECT menu_id FROM menu WHERE title = ? AND path IS NULL AND parent_id IS NULL \
             ORDER BY menu_id LIMIT 1",
            (title,),
        )
        .await?;
    if let Some(id) = found {
        return Ok(id);
    }
    insert_id(
        c,
        "INSERT INTO menu (parent_id, title, path, permission_id, sort_order) VALUES (NULL, ?, NULL, NULL, ?)",
        vec![title.into(), sort.into()],
    )
    .await
}

async fn permission_id<Q: Queryable>(c: &mut Q, code: &str) -> Result<i64, ApiError> {
    c.exec_first(
        "SELECT permission_id FROM permission WHERE code = ?",
        (code,),
    )
    .await?
    .ok_or_else(|| ApiError::Internal(format!("permission {code} not seeded")))
}
