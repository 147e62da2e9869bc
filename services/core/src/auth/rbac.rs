//! Permissions and the middleware that enforces them: every endpoint is
//! mounted with the permission it needs (`guarded`), and a request gets
//! through only with a live session whose staff member holds it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::Response;
use axum::routing::MethodRouter;
use mysql_async::prelude::Queryable;

use crate::auth::principal_cache::Resolved;
use crate::auth::scope::{self, Scope};
use crate::auth::session::Session;
use crate::problem::ApiError;
use crate::state::Shared;

/// Every permission code the server knows. Seeded into `permission`; the
/// `admin` role holds them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    StaffRead,
    StaffWrite,
    DepartmentRead,
    DepartmentWrite,
    ChannelRead,
    ChannelWrite,
    CredentialWrite,
    RoleRead,
    RoleWrite,
    MenuRead,
    MenuWrite,
    PolicyRead,
    PolicyWrite,
    LogRead,
    SyncWrite,
    NumberRead,
    NumberWrite,
    NumberHold,
    NumberHoldOverride,
    PoolWrite,
    PremiumRead,
    PremiumWrite,
    PremiumApprove,
    CardRead,
    CardWrite,
    CardOccupy,
    CardPair,
    CardTransfer,
    MqAdmin,
    ReportRead,
    ReportExport,
    ReportAdmin,
    /// 批量文件作业 (haoka-batch): see jobs / upload files.
    BatchRead,
    BatchWrite,
    OpsRead,
}

impl Permission {
    pub const ALL: [Permission; 35] = [
        Permission::StaffRead,
        Permission::StaffWrite,
        Permission::DepartmentRead,
        Permission::DepartmentWrite,
        Permission::ChannelRead,
        Permission::ChannelWrite,
        Permission::CredentialWrite,
        Permission::RoleRead,
        Permission::RoleWrite,
        Permission::MenuRead,
        Permission::MenuWrite,
        Permission::PolicyRead,
        Permission::PolicyWrite,
        Permission::LogRead,
        Permission::SyncWrite,
        Permission::NumberRead,
        Permission::NumberWrite,
        Permission::NumberHold,
        Permission::NumberHoldOverride,
        Permission::PoolWrite,
        Permission::PremiumRead,
        Permission::PremiumWrite,
        Permission::PremiumApprove,
        Permission::CardRead,
        Permission::CardWrite,
        Permission::CardOccupy,
        Permission::CardPair,
        Permission::CardTransfer,
        Permission::MqAdmin,
        Permission::BatchRead,
        Permission::BatchWrite,
        Permission::OpsRead,
        Permission::ReportRead,
        Permission::ReportExport,
        Permission::ReportAdmin,
    ];

    pub fn code(self) -> &'static str {
        use Permission::*;
        match self {
            StaffRead => "staff:read",
            StaffWrite => "staff:write",
            DepartmentRead => "department:read",
            DepartmentWrite => "department:write",
            ChannelRead => "channel:read",
            ChannelWrite => "channel:write",
            CredentialWrite => "credential:write",
            RoleRead => "role:read",
            RoleWrite => "role:write",
            MenuRead => "menu:read",
            MenuWrite => "menu:write",
            PolicyRead => "policy:read",
            PolicyWrite => "policy:write",
            LogRead => "log:read",
            SyncWrite => "sync:write",
            NumberRead => "number:read",
            NumberWrite => "number:write",
            NumberHold => "number:hold",
            NumberHoldOverride => "number:hold_override",
            PoolWrite => "pool:write",
            PremiumRead => "premium:read",
            PremiumWrite => "premium:write",
            PremiumApprove => "premium:approve",
            CardRead => "card:read",
            CardWrite => "card:write",
            CardOccupy => "card:occupy",
            CardPair => "card:pair",
            CardTransfer => "card:transfer",
            MqAdmin => "mq:admin",
            BatchRead => "batch:read",
            BatchWrite => "batch:write",
            OpsRead => "ops:read",
            ReportRead => "report:read",
            ReportExport => "report:export",
            ReportAdmin => "report:admin",
        }
    }

    pub fn title(self) -> &'static str {
        use Permission::*;
        match self {
            StaffRead => "查看员工",
            StaffWrite => "维护员工",
            DepartmentRead => "查看部门",
            DepartmentWrite => "维护部门",
            ChannelRead => "查看渠道",
            ChannelWrite => "维护渠道",
            CredentialWrite => "管理渠道接口凭证",
            RoleRead => "查看角色",
            RoleWrite => "维护角色与授权",
            MenuRead => "查看菜单",
            MenuWrite => "维护菜单",
            PolicyRead => "查看登录策略",
            PolicyWrite => "维护登录策略",
            LogRead => "查看日志",
            SyncWrite => "总部数据同步",
            NumberRead => "号码查询与选号",
            NumberWrite => "号码入库与状态维护",
            NumberHold => "号码选占与实占",
            NumberHoldOverride => "处理渠道的选占(留痕)",
            PoolWrite => "号码池维护与授权",
            PremiumRead => "靓号规则与费用查询",
            PremiumWrite => "靓号规则维护与减免申请",
            PremiumApprove => "靓号减免审批",
            CardRead => "卡查询与卡历史",
            CardWrite => "成卡入库、状态与库位维护",
            CardOccupy => "成卡可用验证与占用",
            CardPair => "预配号卡与套包",
            CardTransfer => "成卡调拨",
            MqAdmin => "消息队列运维(死信重放)",
            BatchRead => "查看批量文件作业",
            BatchWrite => "上传批量文件",
            OpsRead => "运维查看(分片状态,总部)",
            ReportRead => "查看报表",
            ReportExport => "导出报表",
            ReportAdmin => "管理报表(模板、全部任务)",
        }
    }
}

/// The authenticated staff member behind a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub staff_id: i64,
    pub staff_no: String,
    pub province: Option<String>,
    pub permissions: HashSet<String>,
    pub scope: Scope,
    pub must_change_password: bool,
    pub session: Session,
    pub source_ip: String,
    pub request_id: Option<String>,
}

impl Principal {
    pub fn has(&self, p: Permission) -> bool {
        self.permissions.contains(p.code())
    }

    /// The province a listing is about: the one asked for, else the staff
    /// member's own (headquarters staff must name one); checked against the
    /// data scope.
    pub fn listing_province(
        &self,
        asked: Option<&crate::domain::ProvinceCode>,
    ) -> Result<String, ApiError> {
        let province = match (asked, self.province.as_deref()) {
            (Some(pc), _) => pc.to_string(),
            (None, Some(home)) => home.to_string(),
            (None, None) => return Err(ApiError::Invalid("province_code is required".into())),
        };
        self.scope.check(Some(&province))?;
        Ok(province)
    }
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthenticated)?
        .to_str()
        .map_err(|_| ApiError::Unauthenticated)?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(ApiError::Unauthenticated)?;
    Ok(token.trim())
}

pub fn source_ip(req_parts: &Parts) -> String {
    req_parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Resolves the bearer token to a staff member with their permissions and
/// scope: read fresh, or reused from the principal cache while no
/// permission-center change happened since (so role changes apply at once).
pub async fn authenticate(state: &Shared, parts: &Parts) -> Result<Principal, ApiError> {
    let token = bearer(&parts.headers)?;
    let session = state.sessions.touch(token).await?;
    let r = match state.sessions.principals.get(&session).await {
        Some(r) => r,
        None => {
            let r = Arc::new(resolve(state, &session).await?);
            state.sessions.principals.put(&session, r.clone()).await;
            r
        }
    };
    Ok(Principal {
        staff_id: session.staff_id,
        staff_no: r.staff_no.clone(),
        province: r.province.clone(),
        permissions: r.permissions.clone(),
        scope: r.scope.clone(),
        must_change_password: r.must_change_password,
        session,
        source_ip: source_ip(parts),
        request_id: crate::request_id::of(&parts.headers),
    })
}

/// The staff row, permission codes and scope behind a session; a missing or
/// disabled staff member ends the session(s).
async fn resolve(state: &Shared, session: &Session) -> Result<Resolved, ApiError> {
    let mut conn = state.db.conn().await?;
    let row: Option<(String, Option<String>, String, i64)> = conn
        .exec_first(
            "SELECT staff_no, province_code, status, must_change_password FROM staff WHERE staff_id = ?",
            (session.staff_id,),
        )
        .await?;
    let Some((staff_no, province, status, must_change)) = row else {
        state.sessions.revoke(session).await?;
        return Err(ApiError::SessionInvalid);
    };
    if status != "A" {
        state.sessions.revoke_all(session.staff_id).await?;
        return Err(ApiError::SessionInvalid);
    }
    let (permissions, scope) = rights_of(&mut conn, session.staff_id, province.as_deref()).await?;
    Ok(Resolved {
        staff_no,
        province,
        permissions,
        scope,
        must_change_password: must_change != 0,
    })
}

/// A staff member acting without a login, such as the batch loader working
/// as the account its configuration names: the same rights and scope a
/// session of theirs would resolve to, so every center check applies.
pub async fn principal_of(
    state: &Shared,
    staff_no: &str,
    source: &str,
) -> Result<Principal, ApiError> {
    let mut conn = state.db.conn().await?;
    let row: Option<(i64, Option<String>, String)> = conn
        .exec_first(
            "SELECT staff_id, province_code, status FROM staff WHERE staff_no = ?",
            (staff_no,),
        )
        .await?;
    let Some((staff_id, province, status)) = row else {
        return Err(ApiError::not_found("staff", staff_no));
    };
    if status != "A" {
        return Err(ApiError::Conflict(format!("staff {staff_no} is disabled")));
    }
    let (permissions, scope) = rights_of(&mut conn, staff_id, province.as_deref()).await?;
    Ok(Principal {
        staff_id,
        staff_no: staff_no.to_string(),
        province,
        permissions,
        scope,
        must_change_password: false,
        session: Session {
            staff_id,
            created_at: crate::auth::session::now_ms(),
            id: format!("service:{source}"),
            principal_epoch: 0,
        },
        source_ip: source.to_string(),
        request_id: None,
    })
}

/// A staff member's permission codes (of their active roles) and scope.
pub async fn rights_of<Q: Queryable>(
    conn: &mut Q,
    staff_id: i64,
    own_province: Option<&str>,
) -> Result<(HashSet<String>, Scope), ApiError> {
    let codes: Vec<String> = conn
        .exec(
            "SELECT DISTINCT p.code FROM staff_role sr \
             JOIN role r ON r.role_id = sr.role_id \
             JOIN role_permission rp ON rp.role_id = sr.role_id \
             JOIN permission p ON p.permission_id = rp.permission_id \
             WHERE sr.staff_id = ? AND r.status = 'A'",
            (staff_id,),
        )
        .await?;
    let scope = scope::load(conn, staff_id, own_province).await?;
    Ok((codes.into_iter().collect(), scope))
}

/// The middleware: authenticate, refuse without the permission (or while a
/// password change is due), hand the principal to the handler.
async fn require(
    State((state, perm)): State<(Shared, Option<Permission>)>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let principal = authenticate(&state, &parts).await?;
    if let Some(perm) = perm {
        if principal.must_change_password {
            return Err(ApiError::PasswordChangeRequired);
        }
        if !principal.has(perm) {
            return Err(ApiError::PermissionDenied(perm.code()));
        }
    }
    parts.extensions.insert(principal);
    Ok(next.run(Request::from_parts(parts, body)).await)
}

/// Mounts `route` behind `perm` (the route may carry any center's state).
pub fn guarded<S: Clone + Send + Sync + 'static>(
    state: &Shared,
    perm: Permission,
    route: MethodRouter<S>,
) -> MethodRouter<S> {
    route.layer(from_fn_with_state((state.clone(), Some(perm)), require))
}

/// Mounts `route` for any logged-in staff member (their own profile, logout,
/// password change); works while a password change is due.
pub fn signed_in<S: Clone + Send + Sync + 'static>(
    state: &Shared,
    route: MethodRouter<S>,
) -> MethodRouter<S> {
    route.layer(from_fn_with_state((state.clone(), None), require))
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(ApiError::Unauthenticated)
    }
}
