//! GET /api/v1/batch/jobs as province staff and operators use it: the scope
//! is part of the query (a page of one's own jobs however many newer jobs
//! other provinces have), pages follow `next_before`, the filters narrow it,
//! a bad filter is a problem, and the timestamps are RFC 3339 with an offset.

mod common;

use mysql_async::prelude::Queryable;
use serde_json::Value;

/// Inserts a finished job row for `province` (as the loader leaves one).
async fn job(s: &common::Server, province: &str, tag: &str, i: usize, status: &str) -> i64 {
    let mut c = s.state.db.conn().await.unwrap();
    let name = format!("NUM_INTAKE_{province}_20261202_{tag}{i}.csv");
    c.exec_drop(
        "INSERT INTO batch_job (job_key, source, path, file_name, kind, province_code, \
         size_bytes, sha256, status, finished_at) VALUES (SHA2(?, 256), 'test', ?, ?, \
         'NUM_INTAKE', ?, 1, REPEAT('0', 64), ?, IF(? = 'R', NULL, NOW(3)))",
        (&name, &name, &name, province, status, status),
    )
    .await
    .unwrap();
    c.query_first::<i64, _>("SELECT LAST_INSERT_ID()")
        .await
        .unwrap()
        .unwrap()
}

fn ids(v: &Value) -> Vec<i64> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items: {v}"))
        .iter()
        .map(|j| j["job_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn province_staff_page_through_their_own_jobs() {
    let s = common::start().await;
    let admin = s.admin().await;
    let tag = common::unique("bj");
    // Three of province 51, then thirty newer ones of 11 (a busier province).
    let mut mine = Vec::new();
    for (i, st) in ["D", "F", "D"].iter().enumerate() {
        mine.push(job(&s, "51", &tag, i, st).await);
    }
    let mut theirs = Vec::new();
    for i in 0..30 {
        theirs.push(job(&s, "11", &tag, i, "D").await);
    }
    let staff = s.user(&admin, Some("51"), &["batch:read"], None).await;
    let get = |token: String, q: String| {
        let s = &s;
        async move {
            let r = s.get(&token, &format!("/api/v1/batch/jobs?{q}")).await;
            assert_eq!(r.status(), 200, "{q}");
            r.json::<Value>().await.unwrap()
        }
    };

    // The newest two of 51, although thirty newer jobs of 11 exist.
    let p1 = get(staff.token.clone(), "limit=2".into()).await;
    let page1 = ids(&p1);
    assert_eq!(page1, vec![mine[2], mine[1]], "{p1}");
    assert!(p1["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|j| j["province_code"] == "51"));
    // The next page from the cursor; the last page has no cursor. (Jobs of
    // 51 older than this test's may follow: only the first of the page is
    // this test's.)
    let before = p1["next_before"].as_i64().expect("a cursor");
    assert_eq!(before, mine[1]);
    let p2 = get(staff.token.clone(), format!("limit=200&before={before}")).await;
    assert_eq!(ids(&p2).first(), Some(&mine[0]), "{p2}");
    assert!(p2["next_before"].is_null() || ids(&p2).len() == 200, "{p2}");
    // Asking for another province gives nothing of it.
    let other = get(staff.token.clone(), "province_code=11&limit=200".into()).await;
    assert!(ids(&other).iter().all(|id| !theirs.contains(id)), "{other}");
    // Filters: the failed one of 51.
    let failed = get(staff.token.clone(), "status=failed&limit=200".into()).await;
    assert!(ids(&failed).contains(&mine[1]) && !ids(&failed).contains(&mine[0]));
    assert!(failed["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|j| j["status"] == "failed"));

    // National staff see both, newest first.
    let all = get(admin.token.clone(), "limit=200".into()).await;
    let ours: Vec<i64> = ids(&all)
        .into_iter()
        .filter(|id| mine.contains(id) || theirs.contains(id))
        .collect();
    let mut want: Vec<i64> = theirs.iter().chain(&mine).copied().collect();
    want.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ours, want);
    let kind = get(admin.token.clone(), "kind=CARD_INTAKE&limit=200".into()).await;
    assert!(ids(&kind)
        .iter()
        .all(|id| !mine.contains(id) && !theirs.contains(id)));
    // Timestamps in the one API form.
    let j = &all["items"][0];
    for k in ["started_at", "finished_at"] {
        let t = j[k].as_str().unwrap_or_else(|| panic!("{k}: {j}"));
        assert!(common::rfc3339_with_offset(t), "{k} = {t}");
    }

    // A status that does not exist (or an empty one) is a problem that
    // names the parameter and the allowed values.
    for bad in ["stuck", ""] {
        let r = s
            .get(&staff.token, &format!("/api/v1/batch/jobs?status={bad}"))
            .await;
        let p = common::problem(r, 400, "invalid_request").await;
        let m = p["message"].as_str().unwrap_or("");
        assert!(m.contains("status") && m.contains("running"), "{p}");
    }

    let mut c = s.state.db.conn().await.unwrap();
    c.exec_drop(
        "DELETE FROM batch_job WHERE source = 'test' AND file_name LIKE ?",
        (format!("%\\_{tag}%"),),
    )
    .await
    .unwrap();
}
