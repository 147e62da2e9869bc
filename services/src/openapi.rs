//! The OpenAPI document, generated from the handlers' annotations, served at
//! /api-docs/openapi.json. Every operation also declares a `default` problem
//! response: errors always come as `application/problem+json`.

use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::card::{
    change as card_change, intake as card_intake, list as card_list, packages, pairing,
    routes as card, transfer::api as transfer,
};
use crate::number::{change, intake, pool, retire, routes as number, rules, select, stock, waiver};
use crate::permission::{channel, department, login, logs, menu, open, policy, role, staff, sync};
use crate::problem::Problem;
use crate::{health, metrics, mq_admin, problem, reference};

#[derive(OpenApi)]
#[openapi(
    info(title = "haoka-server", description = "号卡资源管理: permission center (权限中心), number center (号码中心), card center (卡中心) and shared endpoints"),
    paths(
        health::healthz, health::readyz, metrics::serve, serve,
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
        number::list_depots, number::create_depot, retire::set_depot_status, retire::set_pool_status,
        select::staff_select,
        pool::list_pools, pool::create_pool, pool::assign_numbers, pool::list_grants, pool::put_grant,
        rules::list_rules, rules::create_rule, rules::update_rule, rules::list_levels, rules::reclassify,
        number::get_number, number::number_history,
        number::staff_hold, number::staff_extend, number::staff_release, number::staff_sell,
        stock::list_numbers, stock::count_numbers, stock::activity, stock::transitions, waiver::inbox,
        waiver::fee, waiver::list_waivers, waiver::request_waiver, waiver::approve, waiver::reject,
        select::channel_select, number::channel_hold, number::channel_extend,
        number::channel_release, number::channel_sell,
        card_list::list_cards, card::card_depots, card::transitions, card_intake::intake,
        card_change::change_status, card_change::move_depot,
        packages::list_packages, packages::create_package,
        card::card, card::card_history, card::staff_check, card::staff_occupy, card::staff_return,
        pairing::pair, pairing::unpair, pairing::bundle, pairing::unbundle,
        transfer::create, transfer::list, transfer::show,
        card::channel_check, card::channel_occupy, card::channel_return,
        mq_admin::list_dead_letters, mq_admin::replay_dead_letter, mq_admin::outbox_stats,
        crate::shard_status::shards,
        crate::batch::list_jobs, crate::batch::get_job, crate::batch::upload_file, crate::batch::result::download_result,
        reference::provinces, reference::cities, reference::segments,
    ),
    components(schemas(Problem, crate::card::transfer::api::Direction, crate::card::availability::Purpose, crate::card::status::CardType, crate::card::status::CardStatus, crate::card::iccid::Iccid, crate::batch::JobStatus)),
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
    let mut doc = ApiDoc::openapi();
    // Centers with a document of their own; the modifiers run again so
    // their operations get the problem response too.
    doc.merge(crate::report::routes::ReportDoc::openapi());
    ProblemResponses.modify(&mut doc);
    doc
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

#[utoipa::path(get, path = "/api-docs/openapi.json", operation_id = "openapi_document", tag = "health",
    responses((status = 200, description = "this document (OpenAPI 3.1)", body = Object)))]
pub async fn serve() -> impl IntoResponse {
    problem::Json(document_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.route(path, …)` of every router under src/ of this crate and
    /// of every center's crate beside it (services/*/src), with its methods
    /// (axum cannot list a router's routes, so they are read from the
    /// source: a route added anywhere is found without a list to maintain).
    fn routes_in_source() -> Vec<(String, String, Vec<&'static str>)> {
        let mut files = Vec::new();
        let services = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dirs = vec![services.join("src")];
        for e in std::fs::read_dir(services).unwrap().flatten() {
            if e.path().join("Cargo.toml").is_file() {
                dirs.push(e.path().join("src"));
            }
        }
        assert!(dirs.len() >= 7, "the center crates are not found: {dirs:?}");
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
        let mut found = Vec::new();
        for f in files {
            let src = std::fs::read_to_string(&f).unwrap();
            for (at, _) in src.match_indices(".route(") {
                // The call's text, to its closing parenthesis.
                let rest = &src[at + ".route(".len()..];
                let mut depth = 1;
                let end = rest
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '(' => 1,
                            ')' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .map_or(rest.len(), |(i, _)| i);
                let call = &rest[..end];
                let Some(path) = call.split('"').nth(1).filter(|p| p.starts_with('/')) else {
                    continue;
                };
                let methods = ["get", "post", "put", "patch", "delete"]
                    .into_iter()
                    .filter(|m| {
                        call.match_indices(&format!("{m}(")).any(|(i, _)| {
                            i == 0
                                || !call.as_bytes()[i - 1].is_ascii_alphanumeric()
                                    && call.as_bytes()[i - 1] != b'_'
                        })
                    })
                    .collect();
                found.push((f.display().to_string(), path.to_string(), methods));
            }
        }
        found
    }

    #[test]
    fn every_route_of_every_center_is_documented() {
        let doc = document_json();
        let routes = routes_in_source();
        for prefix in [
            "/api/v1/numbers",
            "/api/v1/cards",
            "/api/v1/open/cards",
            "/api/v1/staff",
            "/api/v1/mq",
            "/api/v1/reports",
            "/api/v1/batch",
            "/api/v1/reference",
            "/healthz",
        ] {
            assert!(
                routes.iter().any(|(_, p, _)| p.starts_with(prefix)),
                "no route under {prefix} found: the source scan is broken"
            );
        }
        let mut missing = Vec::new();
        for (file, path, methods) in &routes {
            assert!(!methods.is_empty(), "{file}: no method found for {path}");
            for m in methods {
                if doc["paths"][path.as_str()].get(*m).is_none() {
                    missing.push(format!("{} {path} ({file})", m.to_uppercase()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "routes not in the OpenAPI document:\n{}",
            missing.join("\n")
        );
    }

    /// An operation names each parameter once (a path parameter listed
    /// twice makes the document invalid).
    #[test]
    fn no_operation_repeats_a_parameter() {
        let doc = document_json();
        let mut repeated = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let mut seen = std::collections::BTreeSet::new();
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let key = (p["name"].to_string(), p["in"].to_string());
                    if !seen.insert(key.clone()) {
                        repeated.push(format!("{method} {path}: {key:?}"));
                    }
                }
            }
        }
        assert!(repeated.is_empty(), "{repeated:#?}");
    }

    /// The served document is a valid OpenAPI 3.1 document, as
    /// openapi-spec-validator (installed by deploy/local/up.sh) judges it.
    #[test]
    fn the_document_validates_against_openapi_3_1() {
        let doc = document_json();
        assert_eq!(doc["openapi"], "3.1.0");
        let file = std::env::temp_dir().join(format!("haoka-openapi-{}.json", std::process::id()));
        std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import json, sys\n\
                 from openapi_spec_validator import validate\n\
                 from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator\n\
                 validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)",
            ])
            .arg(&file)
            .output()
            .expect("python3 runs (deploy/local/up.sh installs it)");
        let _ = std::fs::remove_file(&file);
        assert!(
            out.status.success(),
            "the OpenAPI document is invalid (or openapi-spec-validator is missing: run deploy/local/up.sh):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
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

    /// The report router's paths, read from its file, are all in the served
    /// document, tagged and with their problem response.
    #[test]
    fn every_report_route_is_documented() {
        let doc = document();
        let paths: std::collections::BTreeSet<&str> = include_str!("../report/src/routes.rs")
            .split('"')
            // (`{id}` is the Location header's format string, not a route)
            .filter(|s| s.starts_with("/api/v1/reports") && !s.contains("{id}"))
            .collect();
        assert!(paths.len() >= 6, "{paths:?}");
        let schemas = &doc.components.as_ref().unwrap().schemas;
        assert!(schemas.contains_key("Cell") && schemas.contains_key("StatTable"));
        for p in paths {
            let item = doc
                .paths
                .paths
                .get(p)
                .unwrap_or_else(|| panic!("{p} is not documented"));
            let op = item.get.as_ref().or(item.post.as_ref()).unwrap();
            assert!(op
                .tags
                .as_ref()
                .is_some_and(|t| t.contains(&"reports".to_string())));
            assert!(
                op.responses.responses.contains_key("default"),
                "{p} has its problem response"
            );
        }
    }

    /// The served document's report province_code pattern names exactly
    /// the operator's provinces.
    #[test]
    fn the_report_province_pattern_names_every_province() {
        let doc = document_json();
        let params = doc["paths"]["/api/v1/reports/templates/{code}/stats"]["get"]["parameters"]
            .as_array()
            .expect("the stats operation has parameters");
        let pattern = params
            .iter()
            .find(|p| p["name"] == "province_code")
            .and_then(|p| p["schema"]["pattern"].as_str())
            .expect("province_code has a pattern");
        let mut known: Vec<&str> = crate::domain::PROVINCES.to_vec();
        known.sort_unstable();
        let alt = known.join("|");
        assert_eq!(
            pattern,
            format!("^({alt})(,({alt}))*$"),
            "the province_code pattern lists every province"
        );
    }
}
