//! The OpenAPI document, generated from the handlers' annotations, served at
//! /api-docs/openapi.json. Every operation also declares a `default` problem
//! response: errors always come as `application/problem+json`.

use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::number::{change, intake, pool, routes as number, rules, select, stock, waiver};
use crate::permission::{channel, department, login, logs, menu, open, policy, role, staff, sync};
use crate::problem::Problem;
use crate::{health, mq_admin, problem};

#[derive(OpenApi)]
#[openapi(
    info(title = "haoka-server", description = "号卡资源管理: permission center (权限中心), number center (号码中心) and shared endpoints"),
    paths(
        health::healthz, health::readyz,
        login::login, login::logout, login::me, login::change_password,
        staff::list_staff, staff::create_staff, staff::get_staff, staff::update_staff,
        staff::disable_staff, staff::enable_staff, staff::unlock_staff, staff::reset_password,
        role::list_staff_roles, role::set_staff_roles,
        department::list_departments, department::create_department, department::department_tree,
        department::get_department, department::update_department,
        channel::list_channels, channel::create_channel, channel::get_channel, channel::update_channel,
        channel::list_credentials, channel::issue_credential, channel::revoke_credential,
        role::list_roles, role::create_role, role::get_role, role::update_role,
        role::set_role_permissions, role::list_permissions,
        menu::list_menus, menu::create_menu,
        policy::list_policies, policy::put_policy,
        logs::list_operation_logs, logs::list_interface_logs, logs::list_login_logs,
        sync::sync_departments, sync::sync_channels, sync::sync_staff,
        open::open_channel, open::open_ping,
        intake::intake, change::change_status, change::move_depot,
        number::list_depots, number::create_depot, select::staff_select,
        pool::list_pools, pool::create_pool, pool::assign_numbers, pool::list_grants, pool::put_grant,
        rules::list_rules, rules::create_rule, rules::update_rule, rules::list_levels, rules::reclassify,
        number::get_number, number::number_history,
        number::staff_hold, number::staff_extend, number::staff_release, number::staff_sell,
        stock::list_numbers, stock::count_numbers, stock::activity, stock::transitions, waiver::inbox,
        waiver::fee, waiver::list_waivers, waiver::request_waiver, waiver::approve, waiver::reject,
        select::channel_select, number::channel_hold, number::channel_extend,
        number::channel_release, number::channel_sell,
        mq_admin::list_dead_letters, mq_admin::replay_dead_letter, mq_admin::outbox_stats,
        crate::batch::list_jobs, crate::batch::get_job, crate::batch::upload_file,
    ),
    components(schemas(Problem)),
    modifiers(&Security, &ProblemResponses)
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // The channel API also needs X-Haoka-Timestamp, -Nonce and -Signature
        // (see auth/channel_sign.rs); the key id names the credential.
        components.add_security_scheme(
            "channel_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Haoka-Key",
                "key id; sign with HMAC-SHA256 and send X-Haoka-Timestamp, X-Haoka-Nonce, X-Haoka-Signature",
            ))),
        );
    }
}

struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let response = ResponseBuilder::new()
            .description("an error, as a problem body with a stable code")
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        "Problem",
                    ))))
                    .build(),
            )
            .build();
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                op.responses
                    .responses
                    .entry("default".into())
                    .or_insert_with(|| RefOr::T(response.clone()));
            }
        }
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as served: [`document`] with every integer bounded by what
/// its Rust type holds, where the derives left a side open (a client, or a
/// fuzzer, is not told that 2^70 is a valid id).
pub fn document_json() -> serde_json::Value {
    let mut doc = serde_json::to_value(document()).unwrap_or_default();
    bound_integers(&mut doc);
    doc
}

/// Adds `minimum` / `maximum` to every integer schema lacking them: 32-bit
/// ones (`format: int32`; unsigned when their minimum is 0 or more) and the
/// rest as 64-bit (the ids are `i64`).
fn bound_integers(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            let integer = match map.get("type") {
                Some(serde_json::Value::String(t)) => t == "integer",
                Some(serde_json::Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
                _ => false,
            };
            if integer {
                let int32 = map.get("format").is_some_and(|f| f == "int32");
                let unsigned = map
                    .get("minimum")
                    .and_then(serde_json::Value::as_i64)
                    .is_some_and(|m| m >= 0);
                let (min, max) = match (int32, unsigned) {
                    (true, true) => (0, i64::from(u32::MAX)),
                    (true, false) => (i64::from(i32::MIN), i64::from(i32::MAX)),
                    (false, _) => (i64::MIN, i64::MAX),
                };
                map.entry("minimum").or_insert(min.into());
                map.entry("maximum").or_insert(max.into());
            }
            map.values_mut().for_each(bound_integers);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

pub async fn serve() -> impl IntoResponse {
    problem::Json(document_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The router's paths, read from its source (axum cannot list them),
    /// are all in the document: a new route cannot go undocumented.
    #[test]
    fn every_number_center_route_is_documented() {
        let doc = document();
        let src = include_str!("number/routes.rs");
        let paths: std::collections::BTreeSet<&str> = src
            .split('"')
            .filter(|s| s.starts_with("/api/v1/"))
            .collect();
        assert!(paths.len() >= 20, "{paths:?}");
        for p in paths {
            assert!(doc.paths.paths.contains_key(p), "{p} is not documented");
        }
    }

    #[test]
    fn every_integer_is_bounded_by_its_type() {
        let mut v = serde_json::json!([
            {"type": "integer", "format": "int64"},
            {"type": ["integer", "null"], "format": "int32", "minimum": 0},
            {"type": "integer", "format": "int32"},
            {"type": "integer", "minimum": 1, "maximum": 6},
            {"type": "string"}
        ]);
        bound_integers(&mut v);
        assert_eq!(v[0]["minimum"], i64::MIN);
        assert_eq!(v[0]["maximum"], i64::MAX);
        assert_eq!(
            (v[1]["minimum"].clone(), v[1]["maximum"].clone()),
            (0.into(), u32::MAX.into())
        );
        assert_eq!(v[2]["maximum"], i32::MAX);
        assert_eq!(
            (v[3]["minimum"].clone(), v[3]["maximum"].clone()),
            (1.into(), 6.into())
        );
        assert!(v[4].get("maximum").is_none());
    }
}
