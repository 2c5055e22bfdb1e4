//! The map and dashboard pages: staff only, scoped, and the CSV export.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

use gongzhi_domain::role::Role;

use crate::harness::{Backend, TestApp, spawn_app};

const PASSWORD: &str = "dash-pass-12345";

async fn staff(app: &TestApp, name: &str, unit: &str) -> String {
    let hash = gongzhi_web::auth::hash_password(PASSWORD.into())
        .await
        .expect("hash");
    let user = app
        .db
        .create_user(name, name, Some(&hash))
        .await
        .expect("user");
    app.db
        .grant_role(&user.id, Role::intern("dispatcher"), &app.unit(unit))
        .await
        .expect("grant");
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": name, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("cookie");
    cookie.split(';').next().expect("pair").to_string()
}

struct Page {
    status: StatusCode,
    location: String,
    content_type: String,
    body: String,
}

async fn page(path: &str, app: &TestApp, cookie: Option<&str>) -> Page {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut req = client.get(app.url(path));
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    let res = req.send().await.expect("get");
    let header = |name| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    Page {
        status: res.status(),
        location: header(LOCATION),
        content_type: header(CONTENT_TYPE),
        body: res.text().await.unwrap_or_default(),
    }
}

async fn map_and_dashboard(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_request("路灯不亮").await;
    app.create_request("井盖缺失").await;
    let d1 = staff(&app, "dash.d1", "D1").await;
    let d2 = staff(&app, "dash.d2", "D2").await;

    for path in ["/map", "/dashboard"] {
        let p = page(path, &app, None).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{path}");
        assert!(p.location.starts_with("/login"), "{path}: {}", p.location);
    }

    // The district sees its street shaded with both open cases.
    let p = page("/map", &app, Some(&d1)).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("<svg"), "map drawn");
    let street = format!(
        "id=\"shape-{}\" class=\"shape\" data-count=\"2\"",
        app.unit("S1")
    );
    assert!(p.body.contains(&street), "{}", p.body);
    // Zoomed to the grid: the cases are listed.
    let p = page(&format!("/map?unit={}", app.unit("G1a")), &app, Some(&d1)).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("路灯不亮") && p.body.contains("井盖缺失"));
    let p = page("/map?measure=overdue", &app, Some(&d1)).await;
    assert!(
        p.body
            .contains(&street.replace("data-count=\"2\"", "data-count=\"0\""))
    );

    // The other district: its own shapes, no counts, no way into D1.
    let p = page("/map", &app, Some(&d2)).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains(&format!("shape-{}", app.unit("S2"))));
    assert!(!p.body.contains(&app.unit("S1")));
    assert!(!p.body.contains("data-count=\"2\""));
    let p = page(&format!("/map?unit={}", app.unit("G1a")), &app, Some(&d2)).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(!p.body.contains("路灯不亮"));

    // The dashboard: a table and two charts.
    let p = page("/dashboard?group=district", &app, Some(&d1)).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("id=\"dashboard-table\""));
    assert_eq!(p.body.matches("role=\"img\"").count(), 2, "two charts");
    assert!(p.body.contains("一区"));
    let p = page("/dashboard?from=2025-13-01", &app, Some(&d1)).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("dashboard-error"));

    // CSV: a header, the district's row, the total; a rate of 0 of 0 is empty.
    let p = page("/dashboard?group=district&format=csv", &app, Some(&d1)).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.content_type.starts_with("text/csv"), "{}", p.content_type);
    let lines: Vec<&str> = p.body.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("分组,受理量,按时签收率 分子,按时签收率 分母,按时签收率 %,"));
    assert!(lines[1].starts_with("一区,2,"), "{}", lines[1]);
    assert!(lines[2].starts_with("合计,2,"), "{}", lines[2]);
    let p = page("/dashboard?group=district&format=csv", &app, Some(&d2)).await;
    let lines: Vec<&str> = p.body.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines.len(), 2, "D2 sees only its (empty) total: {lines:?}");
    assert!(lines[1].starts_with("合计,0,"), "{}", lines[1]);
    let p = page("/dashboard?group=month&format=xlsx", &app, Some(&d1)).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.content_type.contains("spreadsheetml"));
    app.stop().await;
}
crate::db_test!(map_and_dashboard);
