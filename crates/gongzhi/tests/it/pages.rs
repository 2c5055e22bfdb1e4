//! Server-rendered staff and public pages of issue 4, without a browser:
//! intake (preview, duplicates, save), their refusals.

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::json;

use crate::harness::{Backend, TestApp, spawn_app};

/// A browser-like client signed in as `user` (a session made directly in
/// the store), with the session's CSRF token. Redirects are not followed.
pub async fn session(app: &TestApp, user: &str) -> (reqwest::Client, String) {
    let token = format!("test-session-{user}");
    let csrf = format!("csrf-{user}");
    let id = app
        .db
        .user_by_username(user)
        .await
        .expect("user")
        .expect("user exists")
        .id;
    let expires = gongzhi_domain::time::now_micros() + 3_600_000_000;
    app.db
        .create_session(&gongzhi_web::auth::token_hash(&token), &id, &csrf, expires)
        .await
        .expect("session");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        format!("gz_session={token}").parse().expect("cookie"),
    );
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .default_headers(headers)
        .build()
        .expect("client");
    (client, csrf)
}

pub fn anonymous() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// The form token a public visitor's browser holds (its cookie), as a
/// page would have put it in the form.
pub const FORM_TOKEN: &str = "test-form-token-0123456789abcdefghijklmno";

/// A public visitor's browser that has seen a form: it sends the form
/// cookie; its posts must carry [`FORM_TOKEN`].
pub fn visitor() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        format!("gz_form={FORM_TOKEN}").parse().expect("cookie"),
    );
    reqwest::Client::builder()
        .redirect(Policy::none())
        .default_headers(headers)
        .build()
        .expect("client")
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn intake_page(backend: Backend) {
    let app = spawn_app(backend).await;
    // An open request of category R01 at the point where the next call is about.
    let r = app
        .post(
            "/api/v1/cases",
            "d1.operator",
            json!({"pack": "requests", "case_type": "request", "lng": 113.1, "lat": 28.05,
                   "fields": {"title": "井盖缺失", "category": "R01", "channel": "hotline",
                              "contact_phone": "13912345678"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let existing = r.body["id"].as_str().expect("id").to_string();

    // Anonymous: to the login page.
    let r = anonymous()
        .get(app.url("/intake"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=/intake");

    let (op, csrf) = session(&app, "d1.operator").await;
    let html = op
        .get(app.url("/intake?q=R01"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(html.contains("热线受理"), "{html}");
    assert!(html.contains("value=\"R01\""));
    assert!(
        !html.contains("value=\"E01\""),
        "the search narrows the list"
    );
    // Searching by name inside the form keeps what was typed.
    let html = op
        .post(app.url("/intake"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("op", "search"),
            ("q", "市容"),
            ("title", "已输入的标题"),
        ])
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("text");
    assert!(html.contains("value=\"E01\""), "{html}");
    assert!(!html.contains("value=\"R01\""));
    assert!(html.contains("value=\"已输入的标题\""));
    assert!(!html.contains("id=\"intake-route\""));

    let fields = |op: &str, csrf: &str| {
        vec![
            ("csrf_token", csrf.to_string()),
            ("op", op.to_string()),
            ("contact_name", "李四".to_string()),
            ("contact_phone", "13700001111".to_string()),
            ("category", "R01".to_string()),
            ("title", "井盖又丢了".to_string()),
            ("description", "学校门口".to_string()),
            ("address", "一区一街道".to_string()),
            ("lat", "28.0505".to_string()),
            ("lng", "113.1".to_string()),
        ]
    };
    // No CSRF token: refused, nothing made.
    let r = op
        .post(app.url("/intake"))
        .form(&fields("save", "forged"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.db.case_count().await.expect("count"), 1);

    // Preview: the routing suggestion and the duplicate 55 m away.
    let r = op
        .post(app.url("/intake"))
        .form(&fields("preview", &csrf))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("text");
    assert!(html.contains("id=\"intake-route\""), "{html}");
    assert!(html.contains("id=\"intake-save\""));
    assert!(html.contains(&format!("/cases/{existing}")), "{html}");
    assert!(
        html.contains("相距 56 米") || html.contains("相距 55 米"),
        "{html}"
    );
    assert_eq!(app.db.case_count().await.expect("count"), 1);

    // Far away: no duplicate.
    let mut far = fields("preview", &csrf);
    far[8].1 = "28.06".into();
    let html = op
        .post(app.url("/intake"))
        .form(&far)
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("text");
    assert!(html.contains("id=\"no-duplicates\""), "{html}");

    // Save: the case page.
    let r = op
        .post(app.url("/intake"))
        .form(&fields("save", &csrf))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/cases/"));
    assert_eq!(app.db.case_count().await.expect("count"), 2);
    let id = location(&r).trim_start_matches("/cases/").to_string();
    let case = app.db.case_unscoped(&id).await.expect("c").expect("case");
    assert_eq!(case.fields["channel"], "hotline");
    assert_eq!(case.fields["contact_name"], "李四");

    // A handler does not take calls.
    let (handler, _) = session(&app, "d1.handler").await;
    let r = handler.get(app.url("/intake")).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}
crate::db_test!(intake_page);

async fn act_ok(app: &TestApp, id: &str, user: &str, body: serde_json::Value) {
    let r = app.act(id, user, body).await;
    assert!(r.status.is_success(), "{:?}", r.body);
}

async fn state_of(app: &TestApp, id: &str) -> String {
    app.db
        .case_unscoped(id)
        .await
        .expect("case")
        .expect("exists")
        .state
}

async fn rating_verifying_reporting_and_statistics(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_request("楼道灯坏了").await;
    act_ok(
        &app,
        &id,
        "d1.dispatcher",
        json!({"action": "dispatch", "target_unit": app.unit("D1-CG")}),
    )
    .await;
    act_ok(&app, &id, "cg.handler", json!({"action": "accept"})).await;
    act_ok(
        &app,
        &id,
        "cg.handler",
        json!({"action": "report", "fields": {"result": "已更换灯具", "outcome": "resolved"}}),
    )
    .await;
    let receipt = app
        .db
        .case_unscoped(&id)
        .await
        .expect("c")
        .expect("e")
        .receipt_code;
    let public = visitor();

    // The lookup offers the rating; wrong digits are refused.
    let html = public
        .post(app.url("/lookup"))
        .form(&[
            ("receipt_code", receipt.as_str()),
            ("phone_last4", "5678"),
            ("form_token", FORM_TOKEN),
        ])
        .send()
        .await
        .expect("lookup")
        .text()
        .await
        .expect("text");
    assert!(html.contains("id=\"rate-form\""), "{html}");
    let rate = |digits: &'static str| {
        public
            .post(app.url("/lookup/rate"))
            .form(&[
                ("receipt_code", receipt.as_str()),
                ("phone_last4", digits),
                ("satisfaction", "satisfied"),
                ("form_token", FORM_TOKEN),
            ])
            .send()
    };
    let r = rate("0000").await.expect("rate");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(state_of(&app, &id).await, "reported");
    let r = rate("5678").await.expect("rate");
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("text");
    assert!(html.contains("id=\"rate-notice\""), "{html}");
    assert!(!html.contains("id=\"rate-form\""));
    assert_eq!(state_of(&app, &id).await, "rated");
    // Rated once: a second rating changes nothing.
    let html = rate("5678")
        .await
        .expect("rate")
        .text()
        .await
        .expect("text");
    assert!(html.contains("该诉求当前不能评价"), "{html}");

    // The grid worker's page: anonymous → login, a handler → 403.
    let r = public.get(app.url("/grid")).send().await.expect("get");
    assert_eq!(location(&r), "/login?next=/grid");
    let (handler, _) = session(&app, "d1.handler").await;
    let r = handler.get(app.url("/grid")).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A role refusal says so; it does not blame the form.
    let refused = r.text().await.expect("text");
    assert!(refused.contains("没有办理此项的权限"), "{refused}");
    let (grid, csrf) = session(&app, "grid.g1a").await;
    let html = grid
        .get(app.url("/grid"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(html.contains(&format!("id=\"task-{receipt}\"")), "{html}");
    assert!(html.contains("name=\"client_key\""));
    let verify = |csrf: String| {
        grid.post(app.url(&format!("/grid/cases/{id}/verify")))
            .form(&[
                ("csrf_token", csrf),
                ("verification", "passed".into()),
                ("verify_note", "现场已亮".into()),
            ])
            .send()
    };
    let r = verify("forged".into()).await.expect("verify");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let expired = r.text().await.expect("text");
    assert!(expired.contains("表单已过期"), "{expired}");
    assert_eq!(state_of(&app, &id).await, "rated");
    let r = verify(csrf.clone()).await.expect("verify");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/grid?verified=1");
    assert_eq!(state_of(&app, &id).await, "verified");

    // A report with a photo; the same form sent twice is one case.
    let before = app.db.case_count().await.expect("count");
    let send = |csrf: &str| {
        let form = reqwest::multipart::Form::new()
            .text("csrf_token", csrf.to_string())
            .text("client_key", "form-key-1")
            .text("title", "路边垃圾堆放")
            .text("description", "")
            .text("category", "")
            .text("lat", "28.05")
            .text("lng", "113.1")
            .part(
                "photo",
                reqwest::multipart::Part::bytes(crate::attachments::png_bytes()).file_name("a.png"),
            )
            .part(
                "photo",
                reqwest::multipart::Part::bytes(Vec::new()).file_name(""),
            );
        grid.post(app.url("/grid/report")).multipart(form).send()
    };
    let r = send("forged").await.expect("report");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.db.case_count().await.expect("count"), before);
    let r = send(&csrf).await.expect("report");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&r).starts_with("/grid?reported="),
        "{}",
        location(&r)
    );
    let r = send(&csrf).await.expect("report");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.db.case_count().await.expect("count"), before + 1);

    // Public statistics: counts and rates only.
    let r = public.get(app.url("/stats")).send().await.expect("stats");
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("text");
    assert!(html.contains("id=\"stats-table\""), "{html}");
    assert!(html.contains("id=\"stats-total\">2<"), "{html}");
    assert!(html.contains("100.0%"), "{html}");
    for secret in ["楼道灯坏了", "路边垃圾堆放", &receipt, "13912345678"] {
        assert!(!html.contains(secret), "{secret} on the statistics page");
    }
    app.stop().await;
}
crate::db_test!(rating_verifying_reporting_and_statistics);
