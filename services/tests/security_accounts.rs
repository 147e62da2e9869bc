//! Issue 14, staff accounts as an attacker meets them: taking over a
//! stronger account, parallel password guesses against the lock-out,
//! account enumeration by timing, sessions that outlive a password change,
//! old-password guesses, spaces as "symbols", links to other provinces'
//! objects and ids confirmed by 403s.

mod common;

use std::time::{Duration, Instant};

use common::{problem, start, start_with, unique, Server, User};
use serde_json::{json, Value};

async fn policy(s: &Server, admin: &User, staff_id: i64, max_failures: u32, lock_minutes: u32) {
    let r = s
        .put(
            &admin.token,
            "/api/v1/login-policies",
            json!({"subject_kind": "staff", "subject_id": staff_id, "max_failures": max_failures,
                   "lock_minutes": lock_minutes, "password_min_length": 10, "password_min_classes": 3,
                   "password_history": 5, "password_max_age_days": 90}),
        )
        .await;
    assert_eq!(r.status(), 200, "policy");
}

async fn role_id(s: &Server, admin: &User, code: &str) -> i64 {
    let roles: Value = s
        .get(&admin.token, "/api/v1/roles")
        .await
        .json()
        .await
        .unwrap();
    roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == code)
        .unwrap_or_else(|| panic!("role {code}"))["role_id"]
        .as_i64()
        .unwrap()
}

/// The outcomes of a staff number's login-log rows, newest first.
async fn login_outcomes(s: &Server, admin: &User, staff_no: &str) -> Vec<String> {
    let v: Value = s
        .get(
            &admin.token,
            &format!("/api/v1/logs/logins?staff_no={staff_no}&page_size=200"),
        )
        .await
        .json()
        .await
        .unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn nobody_changes_an_account_stronger_than_their_own() {
    let s = start().await;
    let admin = s.admin().await;
    // A province-51 staff member holding the admin role with scope "all".
    let victim = s.user(&admin, Some("51"), &["staff:read"], None).await;
    let admin_role = role_id(&s, &admin, "admin").await;
    let r = s
        .put(
            &admin.token,
            &format!("/api/v1/staff/{}/roles", victim.staff_id),
            json!({"roles": [{"role_id": admin_role, "extra_province": "all"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let attacker = s
        .user(&admin, Some("51"), &["staff:read", "staff:write"], None)
        .await;
    let v = victim.staff_id;
    let t = &attacker.token;
    for (path, body) in [
        (format!("/api/v1/staff/{v}/password-reset"), json!({})),
        (format!("/api/v1/staff/{v}/disable"), json!({})),
        (format!("/api/v1/staff/{v}/enable"), json!({})),
        (format!("/api/v1/staff/{v}/unlock"), json!({})),
    ] {
        problem(s.post(t, &path, body).await, 403, "not_allowed").await;
    }
    problem(
        s.patch(t, &format!("/api/v1/staff/{v}"), json!({"name": "改名"}))
            .await,
        403,
        "not_allowed",
    )
    .await;
    // A role:write holder cannot strip the stronger account's roles.
    let stripper = s
        .user(
            &admin,
            Some("51"),
            &["staff:read", "role:read", "role:write"],
            None,
        )
        .await;
    problem(
        s.put(
            &stripper.token,
            &format!("/api/v1/staff/{v}/roles"),
            json!({"roles": []}),
        )
        .await,
        403,
        "not_allowed",
    )
    .await;
    // Nor lock it out by a login policy, nor disable it through the feed.
    let policer = s.user(&admin, Some("51"), &["policy:write"], None).await;
    let r = s
        .put(
            &policer.token,
            "/api/v1/login-policies",
            json!({"subject_kind": "staff", "subject_id": v, "max_failures": 1, "lock_minutes": 10080,
                   "allowed_networks": "10.9.9.9", "password_min_length": 10, "password_min_classes": 3,
                   "password_history": 5, "password_max_age_days": 90}),
        )
        .await;
    problem(r, 403, "not_allowed").await;
    let feeder = s.user(&admin, Some("51"), &["sync:write"], None).await;
    let rep: Value = s
        .post(
            &feeder.token,
            "/api/v1/sync/staff",
            json!({"rows": [{"staff_no": victim.staff_no, "name": "x", "province_code": "51",
                             "status": "disabled"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rep["results"][0]["code"], "not_allowed", "{rep}");
    // The victim is untouched: same password, roles, national scope.
    let token = s.token(&victim.staff_no, &victim.password).await;
    let me: Value = s.get(&token, "/api/v1/auth/me").await.json().await.unwrap();
    assert_eq!(me["provinces"], json!(["all"]));
    assert_eq!(me["staff"]["status"], "active");

    // Wider scope alone is "stronger" too: a 51 account granted 36 as well.
    let wider = s
        .user(&admin, Some("51"), &["staff:read"], Some("36"))
        .await;
    problem(
        s.post(
            t,
            &format!("/api/v1/staff/{}/disable", wider.staff_id),
            json!({}),
        )
        .await,
        403,
        "not_allowed",
    )
    .await;
    // An account within the attacker's own rights is theirs to manage.
    let peer = s.user(&admin, Some("51"), &["staff:read"], None).await;
    let r = s
        .post(
            t,
            &format!("/api/v1/staff/{}/password-reset", peer.staff_id),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // And someone holding everything the victim holds may act.
    let r = s
        .post(
            &admin.token,
            &format!("/api/v1/staff/{v}/unlock"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

/// Waits until `n` password checks of `staff_id` have claimed a slot of
/// the failure budget (the login guard's counter in Redis).
async fn failure_slots_taken(s: &Server, staff_id: i64, n: i64) {
    let key = haoka_services::auth::login_guard::counter(staff_id);
    let mut conn = s.state.cache.conn();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let taken: Option<i64> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("read the failure counter");
        if taken.unwrap_or(0) >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the guesses never claimed {n} slots"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn parallel_guesses_are_verified_no_more_than_the_lock_allows() {
    // Slow hashes, as in production: the guesses overlap while hashing.
    let s = start_with(|c| {
        c.password.argon2_memory_kib = 4096;
        c.password.argon2_iterations = 24;
    })
    .await;
    let admin = s.admin().await;
    let user = s.user(&admin, Some("51"), &["staff:read"], None).await;
    policy(&s, &admin, user.staff_id, 5, 15).await;
    let guesses = (0..39).map(|i| {
        let s = &s;
        let no = user.staff_no.clone();
        async move {
            s.login(&no, &format!("Wrong-Guess-{i}"))
                .await
                .status()
                .as_u16()
        }
    });
    let right = async {
        // Once the wrong guesses have claimed every slot of the budget,
        // while they are still hashing (a fixed wait raced a loaded machine).
        failure_slots_taken(&s, user.staff_id, 5).await;
        s.login(&user.staff_no, &user.password)
            .await
            .status()
            .as_u16()
    };
    let (wrong, right) = tokio::join!(futures_util::future::join_all(guesses), right);
    assert_eq!(
        right, 423,
        "the right password after the lock gets no session"
    );
    let refused = wrong.iter().filter(|s| **s == 423).count();
    let bad = wrong.iter().filter(|s| **s == 401).count();
    assert_eq!((bad, refused), (4, 35), "{wrong:?}");
    // Five guesses were checked, no more: the others were refused unchecked.
    let outcomes = login_outcomes(&s, &admin, &user.staff_no).await;
    let checked = outcomes
        .iter()
        .filter(|o| *o == "bad_password" || *o == "locked_now")
        .count();
    assert_eq!(checked, 5, "{outcomes:?}");
    let st: Value = s
        .get(&admin.token, &format!("/api/v1/staff/{}", user.staff_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["locked"], true);
    // The lock holds for the right password too, until an unlock.
    problem(
        s.login(&user.staff_no, &user.password).await,
        423,
        "account_locked",
    )
    .await;
    let r = s
        .post(
            &admin.token,
            &format!("/api/v1/staff/{}/unlock", user.staff_id),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    s.token(&user.staff_no, &user.password).await;
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test]
async fn an_unknown_staff_number_takes_as_long_as_a_wrong_password() {
    let s = start_with(|c| {
        c.password.argon2_memory_kib = 8192;
        c.password.argon2_iterations = 8;
    })
    .await;
    let admin = s.admin().await;
    let user = s.user(&admin, Some("51"), &["staff:read"], None).await;
    policy(&s, &admin, user.staff_id, 100, 15).await;
    let time = |staff_no: String| {
        let s = &s;
        async move {
            let t = Instant::now();
            problem(
                s.login(&staff_no, "Wrong-Pass-123").await,
                401,
                "bad_credentials",
            )
            .await;
            t.elapsed()
        }
    };
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    for _ in 0..7 {
        unknown.push(time(unique("nobody")).await);
        wrong.push(time(user.staff_no.clone()).await);
    }
    let (u, w) = (median(unknown), median(wrong));
    assert!(
        u * 2 >= w,
        "an unknown staff number answers in {u:?}, a wrong password in {w:?}"
    );
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions() {
    let s = start().await;
    let admin = s.admin().await;
    let user = s.user(&admin, Some("51"), &["staff:read"], None).await;
    let other = s.token(&user.staff_no, &user.password).await;
    let new = format!("Pw-{}-Zz8", unique("n"));
    let r = s
        .post(
            &user.token,
            "/api/v1/auth/password",
            json!({"old_password": user.password, "new_password": new}),
        )
        .await;
    assert_eq!(r.status(), 204);
    problem(
        s.get(&other, "/api/v1/auth/me").await,
        401,
        "session_invalid",
    )
    .await;
    assert_eq!(s.get(&user.token, "/api/v1/auth/me").await.status(), 200);
}

#[tokio::test]
async fn old_password_guesses_count_as_failed_logins() {
    let s = start().await;
    let admin = s.admin().await;
    let user = s.user(&admin, Some("51"), &["staff:read"], None).await;
    policy(&s, &admin, user.staff_id, 3, 15).await;
    let guess = |n: u32| {
        let s = &s;
        let token = user.token.clone();
        async move {
            s.post(
                &token,
                "/api/v1/auth/password",
                json!({"old_password": format!("Guess-{n}-Pass"), "new_password": "Whatever-Pass-99"}),
            )
            .await
        }
    };
    problem(guess(1).await, 403, "wrong_password").await;
    problem(guess(2).await, 403, "wrong_password").await;
    problem(guess(3).await, 423, "account_locked").await;
    // Locked like any account after three failed logins; the guessing
    // session is over.
    problem(
        s.login(&user.staff_no, &user.password).await,
        423,
        "account_locked",
    )
    .await;
    problem(
        s.get(&user.token, "/api/v1/auth/me").await,
        401,
        "session_invalid",
    )
    .await;
}

#[tokio::test]
async fn spaces_are_not_symbols() {
    let s = start().await;
    let admin = s.admin().await;
    let user = s.user(&admin, Some("51"), &["staff:read"], None).await;
    let r = s
        .post(
            &user.token,
            "/api/v1/auth/password",
            json!({"old_password": user.password, "new_password": "Letters And Spaces Only"}),
        )
        .await;
    problem(r, 422, "password_policy").await;
}

async fn created(r: reqwest::Response) -> Value {
    let st = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(st, 201, "{v}");
    v
}

#[tokio::test]
async fn links_stay_in_their_province_and_other_provinces_objects_do_not_exist() {
    let s = start().await;
    let admin = s.admin().await;
    let a = &admin.token;
    let dept = |p: Option<&str>| json!({"code": unique("d"), "name": "部门", "province_code": p});
    let chan = |p: &str| json!({"code": unique("c"), "name": "渠道", "channel_type": "shop", "province_code": p});
    let d36 = created(s.post(a, "/api/v1/departments", dept(Some("36"))).await).await;
    let c36 = created(s.post(a, "/api/v1/channels", chan("36")).await).await;
    let hq = created(s.post(a, "/api/v1/departments", dept(None)).await).await;
    let staff36 = created(
        s.post(
            a,
            "/api/v1/staff",
            json!({"staff_no": unique("t"), "name": "别省", "province_code": "36"}),
        )
        .await,
    )
    .await;
    let perms = [
        "department:read",
        "department:write",
        "channel:read",
        "channel:write",
        "staff:read",
        "staff:write",
        "sync:write",
    ];
    // Sees 51 and 36: the links are refused for what they are.
    let both = s.user(&admin, Some("51"), &perms, Some("36")).await;
    // Sees 51 only: another province's objects do not exist.
    let own = s.user(&admin, Some("51"), &perms, None).await;
    let (d36_id, c36_id) = (d36["department_id"].clone(), c36["channel_id"].clone());
    for (user, status, code) in [
        (&both, 409, "cross_province_link"),
        (&own, 404, "not_found"),
    ] {
        let t = &user.token;
        let mut d = dept(Some("51"));
        d["parent_id"] = d36_id.clone();
        problem(s.post(t, "/api/v1/departments", d).await, status, code).await;
        let mut c = chan("51");
        c["parent_id"] = c36_id.clone();
        problem(s.post(t, "/api/v1/channels", c).await, status, code).await;
        for link in [
            json!({"department_id": d36_id}),
            json!({"channel_id": c36_id}),
        ] {
            let mut st = json!({"staff_no": unique("t"), "name": "员工", "province_code": "51"});
            st.as_object_mut()
                .unwrap()
                .extend(link.as_object().unwrap().clone());
            problem(s.post(t, "/api/v1/staff", st).await, status, code).await;
        }
        let feeds = [
            (
                "departments",
                json!({"code": unique("d"), "name": "x", "province_code": "51", "parent_code": d36["code"]}),
            ),
            (
                "channels",
                json!({"code": unique("c"), "name": "x", "channel_type": "shop", "province_code": "51", "parent_code": c36["code"]}),
            ),
            (
                "staff",
                json!({"staff_no": unique("t"), "name": "x", "province_code": "51", "department_code": d36["code"]}),
            ),
            (
                "staff",
                json!({"staff_no": unique("t"), "name": "x", "province_code": "51", "channel_code": c36["code"]}),
            ),
        ];
        for (feed, row) in feeds {
            let rep: Value = s
                .post(t, &format!("/api/v1/sync/{feed}"), json!({"rows": [row]}))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(rep["results"][0]["code"], code, "{feed}: {rep}");
        }
    }
    // Reading another province's objects by id: 404, as for ids that do not exist.
    let t = &own.token;
    for path in [
        format!("/api/v1/departments/{d36_id}"),
        format!("/api/v1/channels/{c36_id}"),
        format!("/api/v1/staff/{}", staff36["staff"]["staff_id"]),
        format!("/api/v1/staff/{}/roles", staff36["staff"]["staff_id"]),
        format!("/api/v1/channels/{c36_id}/credentials"),
    ] {
        problem(s.get(t, &path).await, 404, "not_found").await;
    }
    problem(
        s.patch(
            t,
            &format!("/api/v1/departments/{d36_id}"),
            json!({"name": "改"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    // Headquarters is above every province: a 51 department may sit under it.
    let mut d = dept(Some("51"));
    d["parent_id"] = hq["department_id"].clone();
    created(s.post(a, "/api/v1/departments", d).await).await;
}
