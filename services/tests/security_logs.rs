//! Issue 14: the interface and login logs keep to the reader's province
//! scope, as the operation log does.

mod common;
mod number_support;

use common::{unique, Server, User};
use number_support::{channel, channel_call, server};
use serde_json::{json, Value};

async fn page(s: &Server, user: &User, path: &str) -> Value {
    let r = s.get(&user.token, path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn interface_and_login_logs_show_only_the_readers_provinces() {
    let s = server().await;
    let admin = s.admin().await;
    let here = channel(&s, &admin, "51").await;
    let there = channel(&s, &admin, "36").await;
    for cred in [&here, &there] {
        let (st, _) = channel_call(
            &s,
            cred,
            "POST",
            "/api/v1/open/ping",
            Some(json!({"message": "hi"})),
        )
        .await;
        assert_eq!(st, 200);
    }
    let reader = s.user(&admin, Some("51"), &["log:read"], None).await;
    let other = s.user(&admin, Some("36"), &["staff:read"], None).await;
    let nobody = unique("nobody");
    assert_eq!(s.login(&nobody, "Wrong-Pass-1").await.status(), 401);

    let rows = |v: &Value| v["items"].as_array().unwrap().clone();
    let q = |k: &str| format!("/api/v1/logs/interface?key_id={k}");
    assert_eq!(page(&s, &reader, &q(&here.1)).await["total"], 1);
    assert_eq!(page(&s, &reader, &q(&there.1)).await["total"], 0);
    assert_eq!(page(&s, &admin, &q(&there.1)).await["total"], 1);
    let all = page(&s, &reader, "/api/v1/logs/interface?page_size=200").await;
    assert!(
        rows(&all)
            .iter()
            .all(|r| r["channel_id"] != there.0 && !r["channel_id"].is_null()),
        "{all}"
    );
    let q = |no: &str| format!("/api/v1/logs/logins?staff_no={no}");
    assert!(page(&s, &reader, &q(&reader.staff_no)).await["total"].as_i64() > Some(0));
    assert_eq!(page(&s, &reader, &q(&other.staff_no)).await["total"], 0);
    assert_eq!(page(&s, &reader, &q(&nobody)).await["total"], 0);
    assert!(page(&s, &admin, &q(&other.staff_no)).await["total"].as_i64() > Some(0));
    assert_eq!(page(&s, &admin, &q(&nobody)).await["total"], 1);
}
