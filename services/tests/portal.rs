//! What the operator portal needs from the server: its files served at `/`
//! with a history fallback, cache headers and precompressed copies while
//! the API keeps its problem answers; the seeded menus filtered by
//! permission; and the read-only lists the portal pages use (stock list
//! and counts, today's activity, transition tables, the waiver inbox,
//! card transfers and card depots).

mod card_support;
mod common;
mod number_support;

use std::path::PathBuf;

use card_support::depot;
use haoka_services::permission::menu_seed;
use mysql_async::prelude::Queryable;
use number_support::{fresh_numbers, intake};
use reqwest::header;
use serde_json::{json, Value};

/// A built portal in miniature: an index page, a hashed asset with its
/// gzip and brotli copies (markers, not real compression: the server
/// passes them on as they are), and a Swagger UI folder.
fn fake_dist() -> PathBuf {
    let dir = std::env::temp_dir().join(common::unique("portal-dist-"));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::create_dir_all(dir.join("api-docs")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><div id=app>portal</div>",
    )
    .unwrap();
    std::fs::write(dir.join("index.html.gz"), "GZIPPED-INDEX").unwrap();
    std::fs::write(dir.join("assets/app-3f9a1c.js"), "console.log('app')").unwrap();
    std::fs::write(dir.join("assets/app-3f9a1c.js.br"), "BROTLI-APP").unwrap();
    std::fs::write(dir.join("api-docs/index.html"), "<title>swagger</title>").unwrap();
    dir
}

async fn get_with(s: &common::Server, path: &str, accept: &str) -> reqwest::Response {
    s.http
        .get(s.url(path))
        .header(header::ACCEPT_ENCODING, accept)
        .send()
        .await
        .unwrap()
}

fn header_of(r: &reqwest::Response, name: header::HeaderName) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_portal_is_served_beside_the_api() {
    let dist = fake_dist();
    let d = dist.clone();
    let s = common::start_with(move |cfg| cfg.portal.dir = Some(d)).await;

    // The page, for its own paths too (history fallback), never cached stale.
    for path in ["/", "/dashboard", "/numbers/select", "/numbers/13012345678"] {
        let r = get_with(&s, path, "identity").await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            header_of(&r, header::CONTENT_TYPE).starts_with("text/html"),
            "{path}"
        );
        assert_eq!(header_of(&r, header::CACHE_CONTROL), "no-cache", "{path}");
        assert!(r.text().await.unwrap().contains("portal"), "{path}");
    }
    // Precompressed copies by Accept-Encoding; Vary says so.
    let r = get_with(&s, "/dashboard", "gzip").await;
    assert_eq!(header_of(&r, header::CONTENT_ENCODING), "gzip");
    assert_eq!(header_of(&r, header::VARY), "accept-encoding");
    assert_eq!(r.text().await.unwrap(), "GZIPPED-INDEX");
    // Hashed assets are immutable for a year.
    let r = get_with(&s, "/assets/app-3f9a1c.js", "br, gzip").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header_of(&r, header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header_of(&r, header::CONTENT_ENCODING), "br");
    assert!(header_of(&r, header::CONTENT_TYPE).contains("javascript"));
    assert_eq!(r.text().await.unwrap(), "BROTLI-APP");
    let r = get_with(&s, "/assets/app-3f9a1c.js", "identity").await;
    assert_eq!(r.text().await.unwrap(), "console.log('app')");
    // A missing asset is a 404, not the page served as JavaScript.
    common::problem(
        get_with(&s, "/assets/gone-000000.js", "gzip").await,
        404,
        "not_found",
    )
    .await;
    // Swagger UI's folder.
    let r = get_with(&s, "/api-docs/", "identity").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("swagger"));
    // The API keeps its own answers.
    common::problem(get_with(&s, "/api/v1/nope", "gzip").await, 404, "not_found").await;
    common::problem(get_with(&s, "/api", "gzip").await, 404, "not_found").await;
    let r = get_with(&s, "/healthz", "gzip").await;
    assert_eq!(r.status(), 200);
    assert!(header_of(&r, header::CONTENT_TYPE).starts_with("application/json"));
    let r = get_with(&s, "/api-docs/openapi.json", "gzip").await;
    assert!(header_of(&r, header::CONTENT_TYPE).starts_with("application/json"));
    let r = s.http.post(s.url("/dashboard")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(
        header_of(&r, header::CONTENT_TYPE),
        "application/problem+json"
    );
    std::fs::remove_dir_all(&dist).unwrap();
}

#[tokio::test]
async fn without_a_portal_every_unknown_path_is_the_apis_404() {
    let s = common::start().await;
    common::problem(get_with(&s, "/dashboard", "gzip").await, 404, "not_found").await;
}

#[tokio::test]
async fn the_built_portal_missing_is_said_clearly() {
    let dir = std::env::temp_dir().join(common::unique("portal-empty-"));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.clone();
    let s = common::start_with(move |cfg| cfg.portal.dir = Some(d)).await;
    let body = common::problem(
        get_with(&s, "/dashboard", "gzip").await,
        503,
        "backend_unavailable",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("not built"),
        "{body}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn menu_paths(me: &Value) -> Vec<String> {
    me["menus"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["path"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn every_portal_page_has_a_menu_shown_only_with_its_permission() {
    let s = card_support::server().await;
    let admin = s.admin().await;
    let me: Value = s
        .get(&admin.token, "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    let paths = menu_paths(&me);
    for (path, _) in menu_seed::seeded_pages() {
        assert!(paths.contains(&path.to_string()), "admin sees {path}");
    }
    // A seed run again adds nothing.
    let mut c = s.state.db.conn().await.unwrap();
    menu_seed::ensure(&mut c).await.unwrap();
    for (path, _) in menu_seed::seeded_pages() {
        let n: Option<i64> = c
            .exec_first("SELECT COUNT(*) FROM menu WHERE path = ?", (path,))
            .await
            .unwrap();
        assert_eq!(n, Some(1), "{path} once");
    }
    let reader = s.user(&admin, Some("51"), &["number:read"], None).await;
    let me: Value = s
        .get(&reader.token, "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    let paths = menu_paths(&me);
    for (path, perm) in menu_seed::seeded_pages() {
        let shown = perm.is_none_or(|p| p.code() == "number:read");
        assert_eq!(
            paths.contains(&path.to_string()),
            shown,
            "{path} for a number reader"
        );
    }
    assert!(paths.contains(&"/numbers".to_string()));
    assert!(!paths.contains(&"/staff".to_string()));
}

#[tokio::test]
async fn stock_lists_count_and_stay_in_the_province() {
    let s = card_support::server().await;
    let admin = s.admin().await;
    let (d, city) = depot(&s, &admin, "83").await;
    let nums = fresh_numbers(&s, "83", &city, None, 30).await;
    intake(&s, &admin, &nums, d, None).await;
    let t = &admin.token;
    let page: Value = s
        .get(
            t,
            &format!("/api/v1/numbers?province_code=83&depot_id={d}&page_size=20&page=2"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 30, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    assert_eq!(items[0]["phone_no"], nums[20], "ordered by number");
    assert_eq!(items[0]["status"], "01");
    // Shelve ten; the counts and the status filter see them.
    let (st, _) = number_support::set_status(&s, &admin, &nums[..10], "03").await;
    assert_eq!(st, 200);
    let counts: Value = s
        .get(
            t,
            &format!("/api/v1/numbers/counts?province_code=83&depot_id={d}"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        counts["by_status"],
        json!([{"status": "01", "count": 20}, {"status": "03", "count": 10}]),
        "{counts}"
    );
    assert_eq!(counts["total"], 30);
    let shelf: Value = s
        .get(
            t,
            &format!(
                "/api/v1/numbers?province_code=83&depot_id={d}&status=03&prefix={}",
                &nums[0][..7]
            ),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shelf["total"], 10);
    let activity: Value = s
        .get(t, "/api/v1/numbers/activity?province_code=83")
        .await
        .json()
        .await
        .unwrap();
    let intakes = activity["by_action"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "intake")
        .and_then(|a| a["count"].as_i64())
        .unwrap_or(0);
    assert!(intakes >= 30, "{activity}");
    // A province's staff see their own province by default, never another's.
    let local = s.user(&admin, Some("83"), &["number:read"], None).await;
    let own: Value = s
        .get(&local.token, &format!("/api/v1/numbers?depot_id={d}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["total"], 30);
    let other = s.user(&admin, Some("51"), &["number:read"], None).await;
    for path in [
        format!("/api/v1/numbers?province_code=83&depot_id={d}"),
        "/api/v1/numbers/counts?province_code=83".to_string(),
        "/api/v1/numbers/activity?province_code=83".to_string(),
    ] {
        common::problem(
            s.get(&other.token, &path).await,
            403,
            "province_out_of_scope",
        )
        .await;
    }
    let mine: Value = s
        .get(&other.token, &format!("/api/v1/numbers?depot_id={d}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["total"], 0, "51's own stock has none of 83's depot");
    // Bad filters say what is wrong; headquarters staff name a province.
    common::problem(s.get(t, "/api/v1/numbers").await, 400, "invalid_request").await;
    common::problem(
        s.get(t, "/api/v1/numbers?province_code=83&city_code=1")
            .await,
        400,
        "invalid_request",
    )
    .await;
    common::problem(
        s.get(t, "/api/v1/numbers?province_code=83&level=7").await,
        400,
        "invalid_request",
    )
    .await;
    common::problem(
        s.get(t, "/api/v1/numbers?province_code=83&prefix=1a").await,
        400,
        "invalid_request",
    )
    .await;
    common::problem(
        s.get(t, "/api/v1/numbers?province_code=83&page_size=500")
            .await,
        400,
        "invalid_request",
    )
    .await;
    number_support::cleanup(&s, &nums).await;
}

#[tokio::test]
async fn pool_numbers_are_listed_only_to_who_may_view_the_pool() {
    let s = card_support::server().await;
    let admin = s.admin().await;
    let (d, city) = depot(&s, &admin, "84").await;
    let pool = number_support::pool(&s, &admin, "84", None).await;
    let nums = fresh_numbers(&s, "84", &city, None, 4).await;
    intake(&s, &admin, &nums[..2], d, Some(pool)).await;
    intake(&s, &admin, &nums[2..], d, None).await;
    let staff = s.user(&admin, Some("84"), &["number:read"], None).await;
    let list = |token: String, q: String| {
        let s = &s;
        async move {
            let v: Value = s
                .get(&token, &format!("/api/v1/numbers?depot_id={d}{q}"))
                .await
                .json()
                .await
                .unwrap();
            v["total"].as_i64().unwrap()
        }
    };
    assert_eq!(
        list(staff.token.clone(), String::new()).await,
        2,
        "only the public shelf"
    );
    assert_eq!(
        list(staff.token.clone(), format!("&pool_id={pool}")).await,
        0,
        "a pool not granted looks empty"
    );
    number_support::grant(
        &s,
        &admin,
        pool,
        "staff",
        staff.staff_id,
        (true, false, false),
    )
    .await;
    // Grants are cached for a moment; wait until this one shows.
    let mut seen = 0;
    for _ in 0..50 {
        seen = list(staff.token.clone(), String::new()).await;
        if seen == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(seen, 4, "the granted pool shows");
    number_support::cleanup(&s, &nums).await;
}

#[tokio::test]
async fn transition_tables_are_published_with_their_doors() {
    let s = card_support::server().await;
    let admin = s.admin().await;
    let numbers: Vec<Value> = s
        .get(&admin.token, "/api/v1/numbers/transitions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        numbers.len(),
        haoka_services::number::transition::TRANSITIONS.len()
    );
    assert!(
        numbers.contains(&json!({"from": "01", "to": "03", "action": "shelve", "door": "manual"}))
    );
    assert!(numbers.contains(&json!({"from": "03", "to": "04", "action": "hold", "door": "hold"})));
    let cards: Vec<Value> = s
        .get(&admin.token, "/api/v1/cards/transitions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        cards.len(),
        haoka_services::card::transition::TRANSITIONS.len()
    );
    assert!(
        cards.contains(&json!({"from": "01", "to": "06", "action": "freeze", "door": "manual"}))
    );
    assert!(cards.contains(
        &json!({"from": "01", "to": "02", "action": "transfer_out", "door": "transfer"})
    ));
    let nobody = s.user(&admin, Some("51"), &["staff:read"], None).await;
    common::problem(
        s.get(&nobody.token, "/api/v1/numbers/transitions").await,
        403,
        "permission_denied",
    )
    .await;
}

#[tokio::test]
async fn the_waiver_inbox_lists_a_provinces_requests_by_status() {
    let s = card_support::server().await;
    let admin = s.admin().await;
    let (d, city) = depot(&s, &admin, "85").await;
    let nums = fresh_numbers(&s, "85", &city, Some(&["1122"]), 0).await;
    intake(&s, &admin, &nums, d, None).await;
    let n = &nums[0];
    let asker = s
        .user(&admin, Some("85"), &["premium:read", "premium:write"], None)
        .await;
    let r = s
        .post(
            &asker.token,
            &format!("/api/v1/numbers/{n}/waivers"),
            json!({"deposit_waived_cents": 100, "reason": "收件箱"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["waiver_id"]
        .as_i64()
        .unwrap();
    let approver = s
        .user(
            &admin,
            Some("85"),
            &["premium:read", "premium:approve"],
            None,
        )
        .await;
    let ids = |v: &Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["waiver_id"].as_i64().unwrap())
            .collect()
    };
    let inbox: Value = s
        .get(&approver.token, "/api/v1/numbers/waivers?page_size=200")
        .await
        .json()
        .await
        .unwrap();
    assert!(ids(&inbox).contains(&id), "{inbox}");
    let r = s
        .post(
            &approver.token,
            &format!("/api/v1/numbers/{n}/waivers/{id}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let pending: Value = s
        .get(&approver.token, "/api/v1/numbers/waivers?page_size=200")
        .await
        .json()
        .await
        .unwrap();
    assert!(!ids(&pending).contains(&id));
    // Decided waivers come newest first: the one just approved is on the
    // first page of the default size however many earlier runs left behind.
    let approved: Value = s
        .get(&approver.token, "/api/v1/numbers/waivers?status=approved")
        .await
        .json()
        .await
        .unwrap();
    assert!(ids(&approved).contains(&id), "{approved}");
    let newest_first = ids(&approved);
    assert!(
        newest_first.windows(2).all(|w| w[0] > w[1]),
        "{newest_first:?}"
    );
    let outsider = s.user(&admin, Some("51"), &["premium:read"], None).await;
    common::problem(
        s.get(&outsider.token, "/api/v1/numbers/waivers?province_code=85")
            .await,
        403,
        "province_out_of_scope",
    )
    .await;
    common::problem(
        s.get(&approver.token, "/api/v1/numbers/waivers?status=maybe")
            .await,
        400,
        "invalid_request",
    )
    .await;
    number_support::cleanup(&s, &nums).await;
}

#[tokio::test]
async fn card_transfers_are_listed_out_and_in_with_their_depots() {
    let s = card_support::server().await;
    let admin = s.admin().await;
    let t = &admin.token;
    let (from, _) = depot(&s, &admin, "86").await;
    let (to, _) = depot(&s, &admin, "86").await;
    let cards = card_support::cards(&s, &admin, "86", from, 2).await;
    let r = s
        .post(
            t,
            "/api/v1/cards/transfers",
            json!({"from_depot_id": from, "to_depot_id": to, "count": 2}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["transfer_id"]
        .as_i64()
        .unwrap();
    let has = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["transfer_id"] == id)
    };
    let out: Value = s
        .get(t, "/api/v1/cards/transfers?province_code=86&page_size=200")
        .await
        .json()
        .await
        .unwrap();
    assert!(has(&out), "{out}");
    let inbound: Value = s
        .get(
            t,
            "/api/v1/cards/transfers?province_code=86&direction=in&status=done&page_size=200",
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(has(&inbound), "{inbound}");
    let pending: Value = s
        .get(
            t,
            "/api/v1/cards/transfers?province_code=86&status=in_transit&page_size=200",
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(!has(&pending));
    common::problem(
        s.get(t, "/api/v1/cards/transfers?province_code=86&status=lost")
            .await,
        400,
        "invalid_request",
    )
    .await;
    let depots: Vec<Value> = s
        .get(t, "/api/v1/cards/depots?province_code=86")
        .await
        .json()
        .await
        .unwrap();
    assert!(depots.iter().any(|x| x["depot_id"] == from));
    let outsider = s
        .user(&admin, Some("51"), &["card:read", "card:transfer"], None)
        .await;
    common::problem(
        s.get(&outsider.token, "/api/v1/cards/transfers?province_code=86")
            .await,
        403,
        "province_out_of_scope",
    )
    .await;
    common::problem(
        s.get(&outsider.token, "/api/v1/cards/depots?province_code=86")
            .await,
        403,
        "province_out_of_scope",
    )
    .await;
    card_support::cleanup(&s, &cards).await;
}
