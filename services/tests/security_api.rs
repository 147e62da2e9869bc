//! Issue 14, the HTTP surface at large: made-up methods on a public
//! /metrics, 405s as problems, and the OpenAPI document's honesty (what it
//! calls valid is served; what it calls invalid is refused, saying why).

mod common;
mod number_support;

use common::problem;
use number_support::{hold, on_shelf, server};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn made_up_methods_share_one_metrics_label() {
    let s = server().await;
    for i in 0..20 {
        let m = Method::from_bytes(format!("XMETHOD{i}").as_bytes()).unwrap();
        s.call(m, "/healthz", None, None).await;
    }
    let long = Method::from_bytes("Y".repeat(2048).as_bytes()).unwrap();
    s.call(long, "/api/v1/staff", None, None).await;
    let metrics = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !metrics.contains("XMETHOD"),
        "made-up methods became labels"
    );
    assert!(!metrics.contains("YYYY"));
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
}

#[tokio::test]
async fn a_method_a_path_does_not_serve_is_a_problem_too() {
    let s = server().await;
    let r = s.call(Method::DELETE, "/healthz", None, None).await;
    assert!(r.headers().get("allow").is_some());
    problem(r, 405, "method_not_allowed").await;
    let admin = s.admin().await;
    let r = s
        .call(
            Method::from_bytes(b"BREW").unwrap(),
            "/api/v1/staff",
            Some(&admin.token),
            None,
        )
        .await;
    problem(r, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn a_search_without_a_province_by_headquarters_staff_is_refused_not_invalid() {
    let s = server().await;
    let admin = s.admin().await;
    problem(
        s.get(&admin.token, "/api/v1/numbers/select").await,
        403,
        "not_allowed",
    )
    .await;
}

/// Every integer schema of the served document, with where it is.
fn integers(v: &Value, at: String, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) => {
            let integer = match map.get("type") {
                Some(Value::String(t)) => t == "integer",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
                _ => false,
            };
            if integer {
                out.push((at.clone(), v.clone()));
            }
            for (k, x) in map {
                integers(x, format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                integers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn every_integer_of_the_document_is_bounded() {
    let s = server().await;
    let doc: Value = s
        .http
        .get(s.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut found = Vec::new();
    integers(&doc, String::new(), &mut found);
    assert!(found.len() > 100, "{}", found.len());
    let open: Vec<&(String, Value)> = found
        .iter()
        .filter(|(_, v)| v.get("minimum").is_none() || v.get("maximum").is_none())
        .collect();
    assert!(open.is_empty(), "integers without bounds: {open:?}");
    // An id is an i64.
    let id = &doc["paths"]["/api/v1/staff/{id}"]["get"]["parameters"][0]["schema"];
    assert_eq!(
        (id["minimum"].clone(), id["maximum"].clone()),
        (json!(i64::MIN), json!(i64::MAX))
    );
}

#[tokio::test]
async fn hold_lengths_out_of_range_are_refused_on_every_hold_operation() {
    let s = server().await;
    let admin = s.admin().await;
    let nums = on_shelf(&s, &admin, "51", 1, None).await;
    hold(&s, &admin.token, &nums[0], "k-1", None).await;
    for op in ["release", "sell", "extend"] {
        let r = s
            .post(
                &admin.token,
                &format!("/api/v1/numbers/{}/{op}", nums[0]),
                json!({"key": "k-1", "hold_seconds": 0}),
            )
            .await;
        problem(r, 400, "invalid_request").await;
    }
    assert_eq!(number_support::status_of(&s, &nums[0]).await, "04");
    number_support::cleanup(&s, &nums).await;
}

#[tokio::test]
async fn a_fraction_where_an_integer_belongs_is_refused_saying_so() {
    let s = server().await;
    let admin = s.admin().await;
    let p = problem(
        s.get(&admin.token, "/api/v1/staff?department_id=4.0").await,
        400,
        "invalid_request",
    )
    .await;
    let m = p["message"].as_str().unwrap();
    assert!(m.contains("department_id") && m.contains("integer"), "{m}");
    let p = problem(
        s.get(&admin.token, "/api/v1/staff/4.0").await,
        400,
        "invalid_request",
    )
    .await;
    let m = p["message"].as_str().unwrap();
    assert!(m.contains("4.0") && m.contains("integer"), "{m}");
}
