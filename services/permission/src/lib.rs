//! The permission center (权限中心): staff, departments, channels and their
//! API credentials, roles, permissions, menus, login policies, logs, the
//! headquarters sync feed, and staff login.

pub mod authority;
pub mod channel;
pub mod department;
pub mod login;
pub mod logs;
pub mod menu;
pub mod menu_seed;
pub mod open;
pub mod policy;
pub mod role;
pub mod seed;
pub mod staff;
pub mod sync;

use axum::routing::{get, post, put};
use axum::Router;
use haoka_core::auth::rbac::{guarded, signed_in, Permission::*};
use haoka_core::interface_log;
use haoka_core::state::Shared;

/// The center's routes, with its state.
pub fn router(state: &Shared) -> Router {
    let s = state;
    let open = Router::new()
        .route("/api/v1/open/channel", get(open::open_channel))
        .route("/api/v1/open/ping", post(open::open_ping))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            interface_log::gate,
        ));
    Router::new()
        .route("/api/v1/auth/login", post(login::login))
        .route("/api/v1/auth/logout", signed_in(s, post(login::logout)))
        .route("/api/v1/auth/me", signed_in(s, get(login::me)))
        .route(
            "/api/v1/auth/password",
            signed_in(s, post(login::change_password)),
        )
        .route(
            "/api/v1/staff",
            guarded(s, StaffRead, get(staff::list_staff)).merge(guarded(
                s,
                StaffWrite,
                post(staff::create_staff),
            )),
        )
        .route(
            "/api/v1/staff/{id}",
            guarded(s, StaffRead, get(staff::get_staff)).merge(guarded(
                s,
                StaffWrite,
                axum::routing::patch(staff::update_staff),
            )),
        )
        .route(
            "/api/v1/staff/{id}/disable",
            guarded(s, StaffWrite, post(staff::disable_staff)),
        )
        .route(
            "/api/v1/staff/{id}/enable",
            guarded(s, StaffWrite, post(staff::enable_staff)),
        )
        .route(
            "/api/v1/staff/{id}/unlock",
            guarded(s, StaffWrite, post(staff::unlock_staff)),
        )
        .route(
            "/api/v1/staff/{id}/password-reset",
            guarded(s, StaffWrite, post(staff::reset_password)),
        )
        .route(
            "/api/v1/staff/{id}/roles",
            guarded(s, StaffRead, get(role::list_staff_roles)).merge(guarded(
                s,
                RoleWrite,
                put(role::set_staff_roles),
            )),
        )
        .route(
            "/api/v1/departments",
            guarded(s, DepartmentRead, get(department::list_departments)).merge(guarded(
                s,
                DepartmentWrite,
                post(department::create_department),
            )),
        )
        .route(
            "/api/v1/departments/tree",
            guarded(s, DepartmentRead, get(department::department_tree)),
        )
        .route(
            "/api/v1/departments/{id}",
            guarded(s, DepartmentRead, get(department::get_department)).merge(guarded(
                s,
                DepartmentWrite,
                axum::routing::patch(department::update_department),
            )),
        )
        .route(
            "/api/v1/channels",
            guarded(s, ChannelRead, get(channel::list_channels)).merge(guarded(
                s,
                ChannelWrite,
                post(channel::create_channel),
            )),
        )
        .route(
            "/api/v1/channels/{id}",
            guarded(s, ChannelRead, get(channel::get_channel)).merge(guarded(
                s,
                ChannelWrite,
                axum::routing::patch(channel::update_channel),
            )),
        )
        .route(
            "/api/v1/channels/{id}/credentials",
            guarded(s, ChannelRead, get(channel::list_credentials)).merge(guarded(
                s,
                CredentialWrite,
                post(channel::issue_credential),
            )),
        )
        .route(
            "/api/v1/channels/{id}/credentials/{key_id}",
            guarded(
                s,
                CredentialWrite,
                axum::routing::delete(channel::revoke_credential),
            ),
        )
        .route(
            "/api/v1/roles",
            guarded(s, RoleRead, get(role::list_roles)).merge(guarded(
                s,
                RoleWrite,
                post(role::create_role),
            )),
        )
        .route(
            "/api/v1/roles/{id}",
            guarded(s, RoleRead, get(role::get_role)).merge(guarded(
                s,
                RoleWrite,
                axum::routing::patch(role::update_role),
            )),
        )
        .route(
            "/api/v1/roles/{id}/permissions",
            guarded(s, RoleWrite, put(role::set_role_permissions)),
        )
        .route(
            "/api/v1/permissions",
            guarded(s, RoleRead, get(role::list_permissions)),
        )
        .route(
            "/api/v1/menus",
            guarded(s, MenuRead, get(menu::list_menus)).merge(guarded(
                s,
                MenuWrite,
                post(menu::create_menu),
            )),
        )
        .route(
            "/api/v1/login-policies",
            guarded(s, PolicyRead, get(policy::list_policies)).merge(guarded(
                s,
                PolicyWrite,
                put(policy::put_policy),
            )),
        )
        .route(
            "/api/v1/logs/operations",
            guarded(s, LogRead, get(logs::list_operation_logs)),
        )
        .route(
            "/api/v1/logs/interface",
            guarded(s, LogRead, get(logs::list_interface_logs)),
        )
        .route(
            "/api/v1/logs/logins",
            guarded(s, LogRead, get(logs::list_login_logs)),
        )
        .route(
            "/api/v1/sync/departments",
            guarded(s, SyncWrite, post(sync::sync_departments)),
        )
        .route(
            "/api/v1/sync/channels",
            guarded(s, SyncWrite, post(sync::sync_channels)),
        )
        .route(
            "/api/v1/sync/staff",
            guarded(s, SyncWrite, post(sync::sync_staff)),
        )
        .merge(open)
        .with_state(state.clone())
}
