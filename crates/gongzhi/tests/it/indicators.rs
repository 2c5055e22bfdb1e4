//! Indicators through the API: a few requests driven through their workflow,
//! then the figures as a district supervisor, a unit handler and an
//! out-of-scope supervisor see them; and every query parameter validated.

use reqwest::StatusCode;
use serde_json::{Value, json};

use gongzhi_domain::calendar::WorkCalendar;
use gongzhi_domain::indicators::DateRange;
use gongzhi_domain::time::now_micros;

use crate::harness::{Backend, TestApp, spawn_app};

async fn ok(app: &TestApp, case: &str, user: &str, body: Value) {
    let r = app.act(case, user, body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{user} {body}: {:?}", r.body);
}

fn ratio(n: u64, d: u64) -> Value {
    let r = if d == 0 {
        Value::Null
    } else {
        json!(((n as f64 / d as f64) * 10_000.0).round() / 10_000.0)
    };
    json!({"numerator": n, "denominator": d, "ratio": r})
}

/// Today in the calendar's zone, as the API's default period ends.
fn today() -> String {
    DateRange::parse(None, None, now_micros(), &WorkCalendar::builtin())
        .expect("today")
        .to
        .to_string()
}

async fn figures_from_the_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let cg = app.unit("D1-CG");

    // A: the whole way, satisfied, verified, closed.
    let a = app.create_request("井盖缺失").await;
    ok(
        &app,
        &a,
        "d1.dispatcher",
        json!({"action": "dispatch", "target_unit": cg}),
    )
    .await;
    ok(&app, &a, "cg.handler", json!({"action": "accept"})).await;
    ok(
        &app,
        &a,
        "cg.handler",
        json!({"action": "report", "fields": {"result": "已补装", "outcome": "resolved"}}),
    )
    .await;
    ok(
        &app,
        &a,
        "d1.operator",
        json!({"action": "follow_up", "fields": {"satisfaction": "satisfied"}}),
    )
    .await;
    ok(
        &app,
        &a,
        "grid.g1a",
        json!({"action": "verify", "fields": {"verification": "passed"}}),
    )
    .await;
    ok(&app, &a, "d1.dispatcher", json!({"action": "close"})).await;

    // B: returned once, dispatched again, re-handled after an unsatisfied rating.
    let b = app.create_request("路灯不亮").await;
    ok(
        &app,
        &b,
        "d1.dispatcher",
        json!({"action": "dispatch", "target_unit": cg}),
    )
    .await;
    ok(
        &app,
        &b,
        "cg.handler",
        json!({"action": "return", "reason": "需先明确权属"}),
    )
    .await;
    ok(
        &app,
        &b,
        "d1.dispatcher",
        json!({"action": "dispatch", "target_unit": cg}),
    )
    .await;
    ok(&app, &b, "cg.handler", json!({"action": "accept"})).await;
    ok(
        &app,
        &b,
        "cg.handler",
        json!({"action": "report", "fields": {"result": "已维修", "outcome": "resolved"}}),
    )
    .await;
    ok(
        &app,
        &b,
        "d1.operator",
        json!({"action": "follow_up", "fields": {"satisfaction": "unsatisfied"}}),
    )
    .await;
    ok(
        &app,
        &b,
        "cg.handler",
        json!({"action": "report", "fields": {"result": "已更换灯具", "outcome": "resolved"}}),
    )
    .await;
    ok(
        &app,
        &b,
        "d1.operator",
        json!({"action": "follow_up", "fields": {"satisfaction": "basically_satisfied"}}),
    )
    .await;

    // C: registered, waiting for dispatch at the district centre.
    let _c = app.create_request("噪音扰民").await;

    let day = today();
    let q = format!("/api/v1/indicators?from={day}&to={day}");
    let r = app.get(&q, "d1.supervisor").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let total = &r.body["total"];
    assert_eq!(total["received"], 3);
    assert_eq!(total["voided"], 0);
    // Dispatches: A, B (returned in time), B again; all answered in time.
    assert_eq!(total["accepted_on_time"], ratio(3, 3));
    // Handling rounds: A, B, B after the unsatisfied rating.
    assert_eq!(total["handled_on_time"], ratio(3, 3));
    assert_eq!(total["closed"], ratio(1, 3));
    assert_eq!(total["rework"], ratio(1, 2));
    assert_eq!(total["redone"], ratio(1, 2));
    assert_eq!(total["returns"], ratio(1, 2));
    assert_eq!(total["satisfied"], ratio(2, 2));
    assert_eq!(total["handling_time"]["count"], 2);
    assert_eq!(r.body["period"]["time_zone"], "Asia/Shanghai");
    assert!(
        r.body["definitions"]
            .as_array()
            .expect("definitions")
            .iter()
            .any(|d| d["id"] == "accepted_on_time" && d["zh"] == "按时签收率")
    );
    // By holding unit: the department holds A and B, the district centre C.
    let groups = r.body["groups"].as_array().expect("groups");
    let received = |key: &str| {
        groups
            .iter()
            .find(|g| g["key"] == key)
            .map(|g| g["figures"]["received"].clone())
    };
    assert_eq!(received(&cg), Some(json!(2)));
    assert_eq!(received(&app.unit("D1")), Some(json!(1)));
    assert_eq!(groups.len(), 2);
    let named = groups.iter().find(|g| g["key"] == cg.as_str()).expect("cg");
    assert_eq!(named["name"]["zh"], "一区城管局");
    assert_eq!(named["figures"]["returns"], ratio(1, 2));

    // The groups add up to the total, whatever the grouping.
    for grouping in [
        "group=unit",
        "group=month",
        "group=area&level=street",
        "group=category&category_level=2",
    ] {
        let r = app.get(&format!("{q}&{grouping}"), "city.dispatcher").await;
        assert_eq!(r.status, StatusCode::OK, "{grouping}: {:?}", r.body);
        assert_eq!(r.body["total"]["received"], 3, "{grouping}");
        let sum: u64 = r.body["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| g["figures"]["rework"]["denominator"].as_u64().expect("n"))
            .sum();
        assert_eq!(sum, 2, "{grouping}");
    }
    let r = app
        .get(&format!("{q}&group=area&level=district"), "d1.supervisor")
        .await;
    assert_eq!(r.body["groups"][0]["key"], app.unit("D1"));
    assert_eq!(r.body["groups"][0]["name"]["zh"], "一区");
    let r = app
        .get(&format!("{q}&group=area&level=community"), "d1.supervisor")
        .await;
    assert_eq!(r.body["groups"][0]["key"], app.unit("M1"));

    // The department's handler sees only what its unit holds.
    let r = app.get(&q, "cg.handler").await;
    assert_eq!(r.body["total"]["received"], 2);

    // Out of scope: nothing at all, not even a count or a unit name.
    for user in ["d2.supervisor", "d2.dispatcher"] {
        let r = app.get(&q, user).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["total"]["received"], 0, "{user}");
        assert_eq!(r.body["total"]["satisfied"], ratio(0, 0), "{user}");
        assert_eq!(r.body["groups"], json!([]), "{user}");
        let text = r.body.to_string();
        assert!(
            !text.contains(&cg) && !text.contains(&app.unit("D1")),
            "{user}: {text}"
        );
    }

    // D lies in D1 but is handed to the city bureau, outside the district:
    // the district counts it, without naming the bureau; the bureau's
    // handler sees it under its own name, and nothing of A, B and C.
    let d = app.create_request("占道经营").await;
    let city_cg = app.unit("CG");
    ok(
        &app,
        &d,
        "d1.dispatcher",
        json!({"action": "dispatch", "target_unit": city_cg, "reason": "市级统管事项"}),
    )
    .await;
    let r = app.get(&q, "d1.supervisor").await;
    assert_eq!(r.body["total"]["received"], 4);
    let last = r.body["groups"].as_array().expect("groups").last().cloned();
    assert_eq!(last.as_ref().map(|g| g["key"].clone()), Some(Value::Null));
    assert_eq!(
        last.map(|g| g["figures"]["received"].clone()),
        Some(json!(1))
    );
    assert!(!r.body.to_string().contains(&city_cg));
    let r = app.get(&q, "citycg.handler").await;
    assert_eq!(r.body["total"]["received"], 1);
    assert_eq!(r.body["groups"][0]["key"], city_cg);
    assert_eq!(r.body["total"]["accepted_on_time"], ratio(0, 0));

    // Another period: nothing.
    let r = app
        .get(
            "/api/v1/indicators?from=2024-01-01&to=2024-12-31",
            "d1.supervisor",
        )
        .await;
    assert_eq!(r.body["total"]["received"], 0);
    // No parameters: this month so far, grouped by unit.
    let r = app.get("/api/v1/indicators", "d1.supervisor").await;
    assert_eq!(
        (r.status, r.body["group"].clone()),
        (StatusCode::OK, json!("unit"))
    );
    assert_eq!(r.body["period"]["to"], day);
    app.stop().await;
}
crate::db_test!(figures_from_the_log);

/// The indicators keep the histories they read and bring them up to date
/// from the log: a case that comes into a scope is counted, one that leaves
/// it is dropped, and an admin change (which may move units) reads all again.
async fn figures_follow_the_log_between_reads(backend: Backend) {
    let app = spawn_app(backend).await;
    let cg = app.unit("D1-CG");
    let day = today();
    let q = format!("/api/v1/indicators?from={day}&to={day}");
    let received = |r: &crate::harness::Reply| r.body["total"]["received"].clone();

    let a = app.create_request("路灯不亮").await;
    let b = app.create_request("垃圾未清运").await;
    assert_eq!(received(&app.get(&q, "cg.handler").await), json!(0));
    assert_eq!(received(&app.get(&q, "d1.supervisor").await), json!(2));
    for case in [&a, &b] {
        ok(
            &app,
            case,
            "d1.dispatcher",
            json!({"action": "dispatch", "target_unit": cg}),
        )
        .await;
    }
    // Came in; read twice, the same.
    for _ in 0..2 {
        let r = app.get(&q, "cg.handler").await;
        assert_eq!(received(&r), json!(2));
        assert_eq!(r.body["total"]["accepted_on_time"], ratio(0, 0));
    }
    // Accepting one decides its dispatch deadline: the figures move with it.
    ok(&app, &a, "cg.handler", json!({"action": "accept"})).await;
    let r = app.get(&q, "cg.handler").await;
    assert_eq!(r.body["total"]["accepted_on_time"], ratio(1, 1));
    // Returned: back with the district, out of the bureau's scope.
    ok(
        &app,
        &b,
        "cg.handler",
        json!({"action": "return", "reason": "不属于本单位职责"}),
    )
    .await;
    assert_eq!(received(&app.get(&q, "cg.handler").await), json!(1));
    assert_eq!(received(&app.get(&q, "d1.supervisor").await), json!(2));
    // An admin change: everything read again, the same figures.
    let r = app
        .post(
            "/api/v1/units",
            "d1.admin",
            json!({"parent_id": app.unit("M1"), "kind": "grid", "code": "IND1", "name": "指标网格"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app.get(&q, "cg.handler").await;
    assert_eq!(received(&r), json!(1));
    assert_eq!(r.body["total"]["accepted_on_time"], ratio(1, 1));
    assert_eq!(received(&app.get(&q, "d1.supervisor").await), json!(2));
    app.stop().await;
}
crate::db_test!(figures_follow_the_log_between_reads);

async fn every_parameter_is_validated(backend: Backend) {
    let app = spawn_app(backend).await;
    for (query, field) in [
        ("from=2025-13-01", Some("from")),
        ("from=2025-1-1", Some("from")),
        ("to=yesterday", Some("to")),
        ("from=2025-03-02&to=2025-03-01", Some("from")),
        ("from=2020-01-01&to=2025-01-01", Some("to")),
        ("group=person", Some("group")),
        ("group=area&level=grid", Some("level")),
        ("group=unit&level=street", Some("level")),
        ("group=category&category_level=4", Some("category_level")),
        ("group=month&category_level=1", Some("category_level")),
        ("colour=red", None),
    ] {
        let r = app
            .get(&format!("/api/v1/indicators?{query}"), "d1.supervisor")
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "invalid_query"),
            "{query}: {:?}",
            r.body
        );
        assert_eq!(r.body["field"].as_str(), field, "{query}: {:?}", r.body);
        assert!(!r.body["message"].as_str().unwrap_or("").is_empty());
    }
    let r = app
        .call(reqwest::Method::GET, "/api/v1/indicators", None, None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}
crate::db_test!(every_parameter_is_validated);
