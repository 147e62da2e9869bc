//! Staff login against the real proxy and Redis: sessions, lockout and unlock,
//! expiry and revocation, login limits, password policy, the login log.

mod common;

use common::{problem, start, start_with, unique};
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};

#[tokio::test]
async fn login_me_logout_and_a_revoked_token() {
    let srv = start().await;
    let admin = srv.admin().await;
    let me: Value = srv
        .get(&admin.token, "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["staff"]["staff_no"], admin.staff_no.as_str());
    assert_eq!(me["provinces"], json!(["all"]));
    assert!(me["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "staff:write"));
    assert!(!me["menus"].as_array().unwrap().is_empty());

    let r = srv
        .post(&admin.token, "/api/v1/auth/logout", json!({}))
        .await;
    assert_eq!(r.status(), 204);
    problem(
        srv.get(&admin.token, "/api/v1/auth/me").await,
        401,
        "session_invalid",
    )
    .await;
    // No token, a malformed one, a wrong password, an unknown staff number.
    problem(
        srv.call(reqwest::Method::GET, "/api/v1/staff", None, None)
            .await,
        401,
        "unauthenticated",
    )
    .await;
    problem(
        srv.get("not-a-token", "/api/v1/staff").await,
        401,
        "session_invalid",
    )
    .await;
    problem(
        srv.login(&admin.staff_no, "Wrong-Pass-1").await,
        401,
        "bad_credentials",
    )
    .await;
    problem(
        srv.login(&unique("nobody"), "Wrong-Pass-1").await,
        401,
        "bad_credentials",
    )
    .await;
}

#[tokio::test]
async fn idle_and_absolute_expiry_end_sessions() {
    let srv = start_with(|c| {
        c.session.idle_seconds = 1;
        c.session.absolute_seconds = 3;
    })
    .await;
    let admin = srv.admin().await;
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    problem(
        srv.get(&admin.token, "/api/v1/auth/me").await,
        401,
        "session_invalid",
    )
    .await;

    let srv = start_with(|c| {
        c.session.idle_seconds = 2;
        c.session.absolute_seconds = 4;
    })
    .await;
    let token = srv.token(&admin.staff_no, &admin.password).await;
    // Kept alive by use (every 1 s, idle limit 2 s), the session still ends
    // at its absolute expiry (4 s).
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        assert_eq!(srv.get(&token, "/api/v1/auth/me").await.status(), 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    problem(
        srv.get(&token, "/api/v1/auth/me").await,
        401,
        "session_invalid",
    )
    .await;
}

#[tokio::test]
async fn lockout_after_failures_and_unlock_by_an_administrator() {
    let srv = start().await;
    let admin = srv.admin().await;
    let user = srv.user(&admin, Some("51"), &["staff:read"], None).await;
    let r = srv
        .put(
            &admin.token,
            "/api/v1/login-policies",
            json!({"subject_kind": "staff", "subject_id": user.staff_id, "max_failures": 3, "lock_minutes": 30,
                   "password_min_length": 10, "password_min_classes": 3, "password_history": 5,
                   "password_max_age_days": 90}),
        )
        .await;
    assert_eq!(r.status(), 200);
    problem(
        srv.login(&user.staff_no, "Wrong-Pass-1").await,
        401,
        "bad_credentials",
    )
    .await;
    problem(
        srv.login(&user.staff_no, "Wrong-Pass-2").await,
        401,
        "bad_credentials",
    )
    .await;
    problem(
        srv.login(&user.staff_no, "Wrong-Pass-3").await,
        423,
        "account_locked",
    )
    .await;
    // Locked: even the right password is refused.
    problem(
        srv.login(&user.staff_no, &user.password).await,
        423,
        "account_locked",
    )
    .await;
    let s: Value = srv
        .get(&admin.token, &format!("/api/v1/staff/{}", user.staff_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["locked"], true);

    let r = srv
        .post(
            &admin.token,
            &format!("/api/v1/staff/{}/unlock", user.staff_id),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["locked"], false);
    srv.token(&user.staff_no, &user.password).await;

    // Every attempt is in the login log, newest first.
    let logs: Value = srv
        .get(
            &admin.token,
            &format!("/api/v1/logs/logins?staff_no={}", user.staff_no),
        )
        .await
        .json()
        .await
        .unwrap();
    let outcomes: Vec<&str> = logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        &outcomes[..5],
        ["ok", "locked", "locked_now", "bad_password", "bad_password"]
    );
    assert_eq!(logs["items"][0]["source_ip"], "127.0.0.1");
}

#[tokio::test]
async fn allowed_networks_and_hours_per_staff_and_role() {
    let srv = start().await;
    let admin = srv.admin().await;
    let user = srv.user(&admin, Some("36"), &["staff:read"], None).await;
    let policy = |networks: Option<&str>, hours: Option<&str>| {
        json!({"subject_kind": "staff", "subject_id": user.staff_id, "max_failures": 5, "lock_minutes": 15,
               "allowed_networks": networks, "allowed_hours": hours,
               "password_min_length": 10, "password_min_classes": 3, "password_history": 5,
               "password_max_age_days": 90})
    };
    assert_eq!(
        srv.put(
            &admin.token,
            "/api/v1/login-policies",
            policy(Some("10.0.0.0/8"), None)
        )
        .await
        .status(),
        200
    );
    problem(
        srv.login(&user.staff_no, &user.password).await,
        403,
        "login_denied",
    )
    .await;
    assert_eq!(
        srv.put(
            &admin.token,
            "/api/v1/login-policies",
            policy(Some("127.0.0.0/8"), None)
        )
        .await
        .status(),
        200
    );
    srv.token(&user.staff_no, &user.password).await;

    // Hours: a window that excludes the current local hour, then one that holds it.
    let hour = haoka_services::auth::login_limits::local_hour(
        haoka_services::auth::session::now_secs(),
        srv.state.cfg.utc_offset_hours,
    );
    let excluded = format!("{:02}-{:02}", (hour + 1) % 24, (hour + 2) % 24);
    let included = format!("{hour:02}-{hour:02}");
    assert_eq!(
        srv.put(
            &admin.token,
            "/api/v1/login-policies",
            policy(None, Some(&excluded))
        )
        .await
        .status(),
        200
    );
    problem(
        srv.login(&user.staff_no, &user.password).await,
        403,
        "login_denied",
    )
    .await;
    assert_eq!(
        srv.put(
            &admin.token,
            "/api/v1/login-policies",
            policy(None, Some(&included))
        )
        .await
        .status(),
        200
    );
    srv.token(&user.staff_no, &user.password).await;

    // A bad policy is refused whole.
    problem(
        srv.put(
            &admin.token,
            "/api/v1/login-policies",
            policy(Some("not-a-net"), None),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    problem(
        srv.put(
            &admin.token,
            "/api/v1/login-policies",
            policy(None, Some("25-26")),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn password_policy_length_classes_history_and_forced_change() {
    let srv = start().await;
    let admin = srv.admin().await;
    let user = srv.user(&admin, Some("51"), &["staff:read"], None).await;
    let change = |old: &str, new: &str| json!({ "old_password": old, "new_password": new });
    let path = "/api/v1/auth/password";
    problem(
        srv.post(&user.token, path, change(&user.password, "Sh0rt!"))
            .await,
        422,
        "password_policy",
    )
    .await;
    problem(
        srv.post(
            &user.token,
            path,
            change(&user.password, "onlylowercaseletters"),
        )
        .await,
        422,
        "password_policy",
    )
    .await;
    problem(
        srv.post(
            &user.token,
            path,
            change("Wrong-Old-Pass-1", "Another-Good-Pass-1"),
        )
        .await,
        403,
        "wrong_password",
    )
    .await;
    // The current one and the recent ones are refused.
    problem(
        srv.post(&user.token, path, change(&user.password, &user.password))
            .await,
        422,
        "password_policy",
    )
    .await;
    let second = "Second-Good-Pass-2";
    assert_eq!(
        srv.post(&user.token, path, change(&user.password, second))
            .await
            .status(),
        204
    );
    problem(
        srv.post(&user.token, path, change(second, &user.password))
            .await,
        422,
        "password_policy",
    )
    .await;
    let third = "Third-Good-Pass-3";
    assert_eq!(
        srv.post(&user.token, path, change(second, third))
            .await
            .status(),
        204
    );

    // An administrator's reset: a temporary password that must be changed first.
    let r: Value = srv
        .post(
            &admin.token,
            &format!("/api/v1/staff/{}/password-reset", user.staff_id),
            json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let temporary = r["temporary_password"].as_str().unwrap();
    problem(
        srv.get(&user.token, "/api/v1/auth/me").await,
        401,
        "session_invalid",
    )
    .await;
    problem(
        srv.login(&user.staff_no, third).await,
        401,
        "bad_credentials",
    )
    .await;
    let login: Value = srv
        .login(&user.staff_no, temporary)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(login["must_change_password"], true);
    let token = login["token"].as_str().unwrap();
    problem(
        srv.get(token, "/api/v1/staff").await,
        403,
        "password_change_required",
    )
    .await;
    assert_eq!(
        srv.post(token, path, change(temporary, "Fourth-Good-Pass-4"))
            .await
            .status(),
        204
    );
    assert_eq!(srv.get(token, "/api/v1/staff").await.status(), 200);
}

#[tokio::test]
async fn an_expired_password_must_be_changed_and_a_disabled_staff_is_logged_out() {
    let srv = start().await;
    let admin = srv.admin().await;
    let user = srv.user(&admin, Some("51"), &["staff:read"], None).await;
    let mut c = srv.state.db.conn().await.unwrap();
    c.exec_drop(
        "UPDATE staff SET password_changed_at = NOW(3) - INTERVAL 200 DAY WHERE staff_id = ?",
        (user.staff_id,),
    )
    .await
    .unwrap();
    let login: Value = srv
        .login(&user.staff_no, &user.password)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(login["must_change_password"], true);

    let r = srv
        .post(
            &admin.token,
            &format!("/api/v1/staff/{}/disable", user.staff_id),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    problem(
        srv.get(login["token"].as_str().unwrap(), "/api/v1/auth/me")
            .await,
        401,
        "session_invalid",
    )
    .await;
    problem(
        srv.login(&user.staff_no, &user.password).await,
        403,
        "login_denied",
    )
    .await;
    assert_eq!(
        srv.post(
            &admin.token,
            &format!("/api/v1/staff/{}/enable", user.staff_id),
            json!({})
        )
        .await
        .status(),
        200
    );
    srv.token(&user.staff_no, &user.password).await;
}
