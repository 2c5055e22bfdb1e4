use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Backend, spawn_app, spawn_app_with};

async fn errors_are_json_with_stable_codes(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.call(Method::GET, "/no/such/route", None, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    let r = app.call(Method::DELETE, "/healthz", None, None).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let r = app.call(Method::GET, "/api/v1/cases", None, None).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );

    // Malformed JSON, wrong types, unknown fields: each a clear error naming what.
    let res = app
        .client
        .post(app.url("/api/v1/cases"))
        .bearer_auth(&app.keys["d1.operator"])
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["code"], "invalid_json");
    let r = app
        .post(
            "/api/v1/cases",
            "d1.operator",
            json!({"pack": 5, "case_type": "item"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );
    assert!(
        r.body["message"].as_str().unwrap_or("").contains("pack"),
        "{:?}",
        r.body
    );
    let r = app
        .post(
            "/api/v1/cases",
            "d1.operator",
            json!({"pack": "generic", "case_type": "item", "colour": 1}),
        )
        .await;
    assert_eq!(r.code(), "invalid_body");
    assert!(r.body["message"].as_str().unwrap_or("").contains("colour"));
    let r = app
        .post(
            "/api/v1/cases",
            "d1.operator",
            json!({"pack": "generic", "case_type": "item", "fields": {"title": ""}}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "missing_field")
    );
    assert_eq!(r.body["field"], "title");
    let r = app
        .post("/api/v1/cases", "d1.operator", json!({"pack": "generic", "case_type": "item", "fields": {"title": "x", "contact_phone": "call me"}}))
        .await;
    assert_eq!(
        (r.status, r.code(), r.body["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("contact_phone")
        )
    );
    let r = app
        .post("/api/v1/cases", "d1.operator", json!({"pack": "generic", "case_type": "item", "lng": 500.0, "lat": 28.0, "fields": {"title": "x"}}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
    let r = app
        .post(
            "/api/v1/cases",
            "d1.operator",
            json!({"pack": "nope", "case_type": "item"}),
        )
        .await;
    assert_eq!(r.code(), "unknown_case_type");
    // Nothing of the above was stored.
    assert_eq!(app.db.case_count().await.expect("count"), 0);
    let r = app
        .call(
            Method::GET,
            "/api/v1/places/locate?lat=abc&lng=1",
            None,
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code(), r.body["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("lat")
        )
    );
    app.stop().await;
}
crate::db_test!(errors_are_json_with_stable_codes);

async fn bodies_are_size_limited(backend: Backend) {
    let config = gongzhi_web::ServerConfig {
        body_limit: 4096,
        ..Default::default()
    };
    let app = spawn_app_with(backend, config).await;
    let big = "长".repeat(10_000);
    let r = app
        .post(
            "/api/v1/cases",
            "d1.operator",
            json!({"pack": "generic", "case_type": "item", "fields": {"title": big}}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );
    assert_eq!(app.db.case_count().await.expect("count"), 0);
    app.stop().await;
}
crate::db_test!(bodies_are_size_limited);

async fn openapi_describes_every_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["openapi"], "3.1.0");
    let paths = r.body["paths"].as_object().expect("paths");
    for route in gongzhi_web::openapi::ROUTES {
        assert!(
            paths
                .get(route.path)
                .and_then(|p| p.get(route.method))
                .is_some(),
            "{} {}",
            route.method,
            route.path
        );
        // And the router has it: the route answers with something other than the
        // router's own "no such route".
        let method = Method::from_bytes(route.method.to_uppercase().as_bytes()).expect("method");
        let path = route.path.replace("{id}", "x");
        let r = app.call(method, &path, None, None).await;
        assert!(
            !(r.status == StatusCode::NOT_FOUND && r.body["message"] == "no such route"),
            "{} {} not routed",
            route.method,
            route.path
        );
        assert_ne!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{} {}",
            route.method,
            route.path
        );
    }
    app.stop().await;
}
crate::db_test!(openapi_describes_every_route);
