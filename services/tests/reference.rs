//! Reference data for the API and the portal: provinces, cities and segments
//! (broadcast tables through the proxy), for any signed-in staff member.

mod common;

use common::{problem, start};
use serde_json::Value;

#[tokio::test]
async fn provinces_cities_and_segments_come_from_the_broadcast_tables() {
    let srv = start().await;
    let admin = srv.admin().await;
    let t = &admin.token;

    let r = srv.get(t, "/api/v1/reference/provinces").await;
    assert_eq!(r.status(), 200);
    let provinces: Vec<Value> = r.json().await.unwrap();
    assert_eq!(provinces.len(), 31);
    let gd = provinces
        .iter()
        .find(|p| p["province_code"] == "51")
        .expect("广东 is listed");
    assert_eq!(gd["name"], "广东");

    let cities: Vec<Value> = srv
        .get(t, "/api/v1/reference/cities?province_code=51")
        .await
        .json()
        .await
        .unwrap();
    assert!(cities.len() >= 2, "{cities:?}");
    assert!(cities.iter().all(|c| c["province_code"] == "51"));
    assert!(cities
        .iter()
        .any(|c| c["city_code"] == gd["capital_city_code"]));
    let all: Vec<Value> = srv
        .get(t, "/api/v1/reference/cities")
        .await
        .json()
        .await
        .unwrap();
    assert!(all.len() > cities.len());

    let city = cities[0]["city_code"].as_str().unwrap();
    let segs: Value = srv
        .get(t, &format!("/api/v1/reference/segments?city_code={city}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(segs["province_code"], "51");
    let list = segs["segments"].as_array().unwrap();
    assert!(!list.is_empty());
    assert!(list
        .iter()
        .all(|s| s.as_str().unwrap().len() == 7 && s.as_str().unwrap().starts_with('1')));
    let mut sorted = list.clone();
    sorted.sort_by_key(|s| s.as_str().unwrap().to_string());
    assert_eq!(&sorted, list);
}

#[tokio::test]
async fn reference_data_needs_a_login_and_checks_its_parameters() {
    let srv = start().await;
    let r = srv
        .http
        .get(srv.url("/api/v1/reference/provinces"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let admin = srv.admin().await;
    let t = &admin.token;
    let r = srv.get(t, "/api/v1/reference/segments?city_code=999").await;
    problem(r, 404, "not_found").await;
    for bad in ["city_code=5a0", "city_code=5100", ""] {
        let r = srv
            .get(t, &format!("/api/v1/reference/segments?{bad}"))
            .await;
        problem(r, 400, "invalid_request").await;
    }
    let r = srv
        .get(t, "/api/v1/reference/cities?province_code=99")
        .await;
    problem(r, 400, "invalid_request").await;
}
