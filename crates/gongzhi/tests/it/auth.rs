use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};

use gongzhi_domain::role::Role;

use crate::harness::{Backend, TestApp, spawn_app};

async fn add_person(app: &TestApp, username: &str, password: &str) {
    let hash = gongzhi_web::auth::hash_password(password.to_string())
        .await
        .expect("hash");
    let user = app
        .db
        .create_user(username, "王网格", Some(&hash))
        .await
        .expect("user");
    app.db
        .grant_role(&user.id, Role::intern("operator"), &app.unit("D1"))
        .await
        .expect("grant");
}

async fn login(
    app: &TestApp,
    username: &str,
    password: &str,
) -> (StatusCode, Value, Option<String>) {
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("login");
    let status = res.status();
    let cookie = res
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, res.json().await.unwrap_or(Value::Null), cookie)
}

async fn sessions_cookies_and_csrf(backend: Backend) {
    let app = spawn_app(backend).await;
    add_person(&app, "wang", "correct horse battery").await;
    let (status, body, _) = login(&app, "wang", "wrong password").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_credentials"))
    );
    let (status, body, _) = login(&app, "nobody", "whatever-password").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_credentials"))
    );

    let (status, body, cookie) = login(&app, "wang", "correct horse battery").await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    let cookie = cookie.expect("session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair").to_string();
    let csrf = body["csrf_token"].as_str().expect("csrf").to_string();

    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .header(COOKIE, &pair)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["user"]["username"], "wang");

    // An unsafe request on the cookie alone is refused: no CSRF token.
    let body = json!({"pack": "generic", "case_type": "item", "fields": {"title": "网格上报"}});
    let r = app
        .client
        .post(app.url("/api/v1/cases"))
        .header(COOKIE, &pair)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r: Value = r.json().await.expect("json");
    assert_eq!(r["code"], "csrf_failed");
    let r = app
        .client
        .post(app.url("/api/v1/cases"))
        .header(COOKIE, &pair)
        .header("x-csrf-token", "forged")
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.db.case_count().await.expect("count"), 0);
    let r = app
        .client
        .post(app.url("/api/v1/cases"))
        .header(COOKIE, &pair)
        .header("x-csrf-token", &csrf)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);

    // Logout ends the session.
    let r = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header(COOKIE, &pair)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), StatusCode::OK);
    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .header(COOKIE, &pair)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
crate::db_test!(sessions_cookies_and_csrf);

async fn logins_are_rate_limited(backend: Backend) {
    let app = spawn_app(backend).await;
    add_person(&app, "li", "the right password").await;
    for _ in 0..5 {
        let (status, _, _) = login(&app, "li", "a wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Locked now, even with the right password.
    let (status, body, _) = login(&app, "li", "the right password").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("account_locked"))
    );
    // Another account from the same address is still allowed until the
    // per-address limit.
    let (status, _, _) = login(&app, "someone-else", "x-wrong-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}
crate::db_test!(logins_are_rate_limited);

async fn api_keys_are_made_by_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .post("/api/v1/api-keys", "d1.admin", json!({"username": "hotline-system", "name": "12345 热线", "roles": [{"role": "operator", "unit_id": app.unit("D1")}]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let key = r.body["key"].as_str().expect("key").to_string();
    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK);
    // An admin of D1 cannot grant anything in D2.
    let r = app
        .post("/api/v1/api-keys", "d1.admin", json!({"username": "other-system", "name": "x", "roles": [{"role": "operator", "unit_id": app.unit("D2")}]}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let bad = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth("gz_not_a_key")
        .send()
        .await
        .expect("me");
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
crate::db_test!(api_keys_are_made_by_admins);
