//! Issue 10, hardening: SQLite durability and file modes, security headers,
//! the Authorization scheme, body limits stated, login locks and their unlock.

use reqwest::StatusCode;
use serde_json::Value;

use gongzhi_store::{Db, SqliteSync};

use crate::harness::{Backend, spawn_app, spawn_app_with, tempdir::TempDir};

async fn sqlite_synchronous(db: &Db) -> i64 {
    let Db::Sqlite(pool) = db else {
        panic!("not SQLite");
    };
    sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(pool)
        .await
        .expect("pragma")
}

fn settings(dir: &TempDir, sync: SqliteSync) -> gongzhi::Settings {
    gongzhi::Settings {
        data_dir: dir.path.join("data"),
        database_url: None,
        pack_dirs: Vec::new(),
        time_zone: "Asia/Shanghai".into(),
        office_hours: "09:00-12:00,13:30-18:00".into(),
        log_origin: gongzhi::DEFAULT_LOG_ORIGIN.into(),
        sqlite_synchronous: sync,
    }
}

/// The server's own database (`open_database`, as `serve` opens it) commits
/// with synchronous=FULL unless told NORMAL; its files are the owner's only.
#[tokio::test]
async fn sqlite_durability_and_file_modes() {
    let dir = TempDir::new();
    let db = gongzhi::open_database(&settings(&dir, SqliteSync::default()))
        .await
        .expect("open");
    assert_eq!(sqlite_synchronous(&db).await, 2, "FULL by default");
    db.close().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        let data = dir.path.join("data");
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("gongzhi.db")), 0o600);
    }
    let other = TempDir::new();
    let db = gongzhi::open_database(&settings(&other, SqliteSync::Normal))
        .await
        .expect("open");
    assert_eq!(sqlite_synchronous(&db).await, 1, "NORMAL when asked");
    db.close().await;
}

/// The Bearer scheme's name is matched in any case, on the API and on Open311.
async fn bearer_scheme_in_any_case(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = &app.keys["d1.operator"];
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let res = app
            .client
            .get(app.url("/api/v1/me"))
            .header("authorization", format!("{scheme} {key}"))
            .send()
            .await
            .expect("me");
        assert_eq!(res.status(), StatusCode::OK, "{scheme}");
        let res = app
            .client
            .post(app.url("/open311/v2/requests.json"))
            .header("authorization", format!("{scheme} {key}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("service_code=R01.02.14&lat=28.05&long=113.1")
            .send()
            .await
            .expect("open311");
        assert_eq!(res.status(), StatusCode::CREATED, "{scheme}");
    }
    // Another scheme is no key at all.
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .header("authorization", format!("Basic {key}"))
        .send()
        .await
        .expect("me");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
crate::db_test!(bearer_scheme_in_any_case);

/// An Open311 body over the limit is refused with the limit that applies.
async fn open311_states_its_body_limit(backend: Backend) {
    let config = gongzhi_web::ServerConfig {
        body_limit: 4096,
        ..Default::default()
    };
    let app = spawn_app_with(backend, config).await;
    let body = format!(
        "api_key={}&service_code=R01.02.14&lat=28.05&long=113.1&description={}",
        app.keys["d1.operator"],
        "x".repeat(8000)
    );
    let res = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let errors: Value = res.json().await.expect("json");
    let description = errors[0]["description"].as_str().unwrap_or_default();
    assert!(description.contains("4096 bytes (4 KiB)"), "{description}");
    assert_eq!(errors[0]["code"], 413);
    app.stop().await;
}
crate::db_test!(open311_states_its_body_limit);

/// Open311's public description hides numbers written with dots, spaces or
/// dashes, and e-mail addresses.
async fn open311_masks_numbers_and_addresses(backend: Backend) {
    let app = spawn_app(backend).await;
    let description = "井盖缺失。电话139.1234.5678、139 1234 5679或139-1234-5670，邮箱li.si@example.com。2026-05-01发现";
    let res = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .form(&[
            ("api_key", app.keys["d1.operator"].as_str()),
            ("service_code", "R01.02.14"),
            ("lat", "28.05"),
            ("long", "113.1"),
            ("description", description),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.expect("json");
    let id = created[0]["service_request_id"].as_str().expect("id");
    let read: Value = app
        .client
        .get(app.url(&format!("/open311/v2/requests/{id}.json")))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        read[0]["description"],
        "井盖缺失。电话***、***或***，邮箱***。2026-05-01发现"
    );
    app.stop().await;
}
crate::db_test!(open311_masks_numbers_and_addresses);

fn check_security_headers(path: &str, headers: &reqwest::header::HeaderMap) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{path}: no {name}"))
            .to_string()
    };
    assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
    assert_eq!(header("referrer-policy"), "same-origin", "{path}");
    let csp = header("content-security-policy");
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{path}: no {name} in {csp}"))
            .to_string()
    };
    let script = directive("script-src");
    assert!(
        script.contains("'self'") && !script.contains("'unsafe-inline'"),
        "{path}: {script}"
    );
    assert_eq!(directive("frame-ancestors"), "frame-ancestors 'none'");
}

/// Pages, static files, the API, Open311 and errors all carry the headers.
async fn responses_carry_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let (staff, _) = crate::pages::session(&app, "d1.operator").await;
    for path in [
        "/",
        "/login",
        "/submit",
        "/stats",
        "/static/picker.js",
        "/no-such-page",
    ] {
        let res = app.client.get(app.url(path)).send().await.expect(path);
        check_security_headers(path, res.headers());
    }
    for path in ["/work", "/map", "/intake", "/dashboard"] {
        let res = staff.get(app.url(path)).send().await.expect(path);
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        check_security_headers(path, res.headers());
        let html = res.text().await.expect("html");
        assert!(!html.contains("<script>"), "{path}: inline script");
    }
    let res = app
        .client
        .get(app.url("/static/intake.js"))
        .send()
        .await
        .expect("js");
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/javascript; charset=utf-8")
    );
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&app.keys["d1.operator"])
        .send()
        .await
        .expect("api");
    check_security_headers("/api/v1/me", res.headers());
    let res = app
        .client
        .get(app.url("/open311/v2/services.xml"))
        .send()
        .await
        .expect("open311");
    check_security_headers("/open311/v2/services.xml", res.headers());
    app.stop().await;
}
crate::db_test!(responses_carry_security_headers);

/// A client that connects from `ip` (another loopback address), as another
/// machine would.
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn api_login(
    client: &reqwest::Client,
    app: &crate::harness::TestApp,
    password: &str,
) -> (StatusCode, String) {
    let res = client
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "wang", "password": password}))
        .send()
        .await
        .expect("login");
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (
        status,
        body["code"].as_str().unwrap_or_default().to_string(),
    )
}

/// Failures from one address lock the account for that address only; the
/// owner logs in from theirs. An admin sees the lock on the user's page,
/// lifts it, and the lifting is logged.
async fn login_locks_are_per_address_and_lifted_by_an_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let hash = gongzhi_web::auth::hash_password("correct horse battery".into())
        .await
        .expect("hash");
    let wang = app
        .db
        .create_user("wang", "王", Some(&hash))
        .await
        .expect("user");
    app.db
        .grant_role(
            &wang.id,
            gongzhi_domain::role::Role::intern("operator"),
            &app.unit("D1"),
        )
        .await
        .expect("grant");
    let attacker = client_from([127, 0, 0, 2]);
    let owner = client_from([127, 0, 0, 1]);
    for _ in 0..5 {
        assert_eq!(
            api_login(&attacker, &app, "wrong password").await,
            (StatusCode::UNAUTHORIZED, "bad_credentials".into())
        );
    }
    assert_eq!(
        api_login(&attacker, &app, "correct horse battery").await,
        (StatusCode::TOO_MANY_REQUESTS, "account_locked".into())
    );
    // The owner, elsewhere, is not locked out.
    assert_eq!(
        api_login(&owner, &app, "correct horse battery").await.0,
        StatusCode::OK
    );

    // The district admin sees the lock and lifts it on the user's page.
    let (admin, csrf) = crate::pages::session(&app, "d1.admin").await;
    let page = |admin: reqwest::Client| {
        let url = app.url(&format!("/admin/users/{}", wang.id));
        async move {
            admin
                .get(url)
                .send()
                .await
                .expect("page")
                .text()
                .await
                .expect("html")
        }
    };
    let html = page(admin.clone()).await;
    assert!(html.contains("id=\"unlock-submit\""), "{html}");
    assert!(html.contains("已对 1 个地址暂时锁定"), "{html}");
    // A district admin of elsewhere cannot.
    let (d2_admin, d2_csrf) = crate::pages::session(&app, "d2.admin").await;
    let res = d2_admin
        .post(app.url(&format!("/admin/users/{}/unlock", wang.id)))
        .form(&[("csrf_token", d2_csrf.as_str())])
        .send()
        .await
        .expect("unlock");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = admin
        .post(app.url(&format!("/admin/users/{}/unlock", wang.id)))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("unlock");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = page(admin.clone()).await;
    assert!(!html.contains("id=\"unlock-submit\""));
    assert!(html.contains("未锁定"));
    assert_eq!(
        api_login(&attacker, &app, "correct horse battery").await.0,
        StatusCode::OK,
        "unlocked for the other address too"
    );

    let entries: Vec<(String, Option<String>, String)> = app
        .db
        .log_entries(0, 100_000)
        .await
        .expect("log")
        .into_iter()
        .map(|(e, _)| e)
        .filter(|e| e.action == "admin.user.unlock")
        .map(|e| (e.case_id, e.actor_id, e.changes))
        .collect();
    let d1_admin = app
        .db
        .user_by_username("d1.admin")
        .await
        .expect("db")
        .expect("d1.admin");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].0, format!("admin:user:{}", wang.id));
    assert_eq!(entries[0].1.as_deref(), Some(d1_admin.id.as_str()));
    assert!(
        entries[0].2.contains("\"locked_addresses\":1"),
        "{}",
        entries[0].2
    );
    assert!(!entries[0].2.contains("127.0.0"), "no address in the log");
    app.stop().await;
}
crate::db_test!(login_locks_are_per_address_and_lifted_by_an_admin);
