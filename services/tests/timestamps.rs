//! Every timestamp the API answers with is RFC 3339 with an offset
//! (`2026-12-01T21:40:55.508+00:00`), whichever center and table it comes
//! from: numbers, holds, histories, cards, transfers, staff, credentials and
//! the logs.

mod card_support;
mod common;
mod number_support;

use serde_json::{json, Value};

fn is_time_field(key: &str) -> bool {
    key.ends_with("_at") || key.ends_with("_until") || key.ends_with("deadline")
}

/// Checks every time field of `v`; returns the names of those found.
fn check(what: &str, v: &Value, found: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if is_time_field(k) {
                    if let Some(s) = x.as_str() {
                        assert!(
                            common::rfc3339_with_offset(s),
                            "{what}: {k} = {s:?} is not RFC 3339 with an offset"
                        );
                        found.insert(format!("{what}.{k}"));
                    }
                }
                check(what, x, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|x| check(what, x, found)),
        _ => {}
    }
}

async fn get(s: &common::Server, token: &str, path: String) -> (String, Value) {
    let r = s.get(token, &path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    (path, r.json::<Value>().await.unwrap())
}

#[test]
fn the_checker_tells_the_old_forms_from_rfc_3339() {
    assert!(common::rfc3339_with_offset("2026-12-01T21:40:55.508+08:00"));
    assert!(common::rfc3339_with_offset("2026-12-01T21:40:55Z"));
    assert!(!common::rfc3339_with_offset("2026-12-01 21:40:55"));
    assert!(!common::rfc3339_with_offset("2026-12-01T21:40:46.508000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_rfc_3339_timestamps_with_an_offset() {
    let s = card_support::server().await;
    let admin = s.admin().await;
    let t = &admin.token;
    let mut found = std::collections::BTreeSet::new();

    // A login: when the session ends.
    let login: Value = s
        .login(&admin.staff_no, &admin.password)
        .await
        .json()
        .await
        .unwrap();
    check("login", &login, &mut found);

    // Numbers: a hold (its deadline), the number, its history, the stock list.
    let nums = number_support::on_shelf(&s, &admin, "89", 2, None).await;
    let held = number_support::hold(&s, t, &nums[0], "ts-key", None).await;
    assert_eq!(held["code"], "0000", "{held}");
    check("hold", &held, &mut found);
    for path in [
        format!("/api/v1/numbers/{}", nums[0]),
        format!("/api/v1/numbers/{}/history", nums[0]),
        "/api/v1/numbers?province_code=89".to_string(),
    ] {
        let (p, v) = get(&s, t, path).await;
        check(&p, &v, &mut found);
    }

    // Cards: a card, its history, a transfer and the transfer list.
    let (from, _) = card_support::depot(&s, &admin, "89").await;
    let (to, _) = card_support::depot(&s, &admin, "89").await;
    let cards = card_support::cards(&s, &admin, "89", from, 1).await;
    let r = s
        .post(
            t,
            "/api/v1/cards/transfers",
            json!({"from_depot_id": from, "to_depot_id": to, "iccids": cards}),
        )
        .await;
    assert!(r.status().is_success(), "transfer: {}", r.status());
    let transfer: Value = r.json().await.unwrap();
    check("transfer", &transfer, &mut found);
    for path in [
        format!("/api/v1/cards/{}", cards[0]),
        format!("/api/v1/cards/{}/history", cards[0]),
        format!("/api/v1/cards/transfers/{}", transfer["transfer_id"]),
        "/api/v1/cards/transfers?province_code=89".to_string(),
    ] {
        let (p, v) = get(&s, t, path).await;
        check(&p, &v, &mut found);
    }

    // Permission center: staff, a channel's credentials, the three logs.
    let (channel, _, _) = number_support::channel(&s, &admin, "89").await;
    for path in [
        "/api/v1/staff".to_string(),
        format!("/api/v1/channels/{channel}/credentials"),
        "/api/v1/logs/operations".to_string(),
        "/api/v1/logs/logins".to_string(),
        "/api/v1/logs/interface".to_string(),
    ] {
        let (p, v) = get(&s, t, path).await;
        check(&p, &v, &mut found);
    }

    number_support::cleanup(&s, &nums).await;
    card_support::cleanup(&s, &cards).await;
    for must in [
        "login.expires_at",
        "hold.hold_deadline",
        "transfer.created_at",
        "/api/v1/staff.updated_at",
        "/api/v1/logs/logins.created_at",
        "/api/v1/logs/operations.created_at",
    ] {
        assert!(found.contains(must), "{must} not seen; seen: {found:?}");
    }
    assert!(found.len() >= 10, "too few timestamps seen: {found:?}");
}
