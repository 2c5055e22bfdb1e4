//! The forms used without a session (login, the public portal): their
//! forgery tokens, photos on a public request, the place picker, and pages
//! for unknown addresses.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

use crate::attachments::png_bytes;
use crate::harness::{Backend, TestApp, spawn_app};
use crate::pages::{FORM_TOKEN, anonymous, visitor};

fn submit_form(token: Option<&str>, client_key: &str, photo: Option<(Vec<u8>, &str)>) -> Form {
    let mut form = Form::new()
        .text("client_key", client_key.to_string())
        .text("category", "R01")
        .text("title", "路灯不亮")
        .text("description", "东门外两盏路灯一周没亮。")
        .text("address", "一区一街道东门外")
        .text("lat", "28.05")
        .text("lng", "113.1")
        .text("contact_phone", "13800001234");
    if let Some(token) = token {
        form = form.text("form_token", token.to_string());
    }
    if let Some((bytes, name)) = photo {
        form = form.part("photo", Part::bytes(bytes).file_name(name.to_string()));
    }
    form
}

async fn case_count(app: &TestApp) -> i64 {
    app.db.case_count().await.expect("count")
}

fn receipt_in(html: &str) -> String {
    let start = html.find("id=\"receipt-code\">").expect("receipt shown") + 18;
    html[start..]
        .split('<')
        .next()
        .unwrap_or_default()
        .to_string()
}

async fn forged_posts_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;

    // Showing a form sets the token cookie and puts the same value in it.
    let r = anonymous()
        .get(app.url("/submit"))
        .send()
        .await
        .expect("submit form");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("gz_form="))
        .expect("form cookie set")
        .to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let token = cookie["gz_form=".len()..]
        .split(';')
        .next()
        .expect("value")
        .to_string();
    let html = r.text().await.expect("html");
    assert!(html.contains(&format!("name=\"form_token\" value=\"{token}\"")));
    // The place picker is drawn from the areas, ready for a click.
    assert!(html.contains("id=\"picker-svg\"") && html.contains("data-scale="));

    // A request posted from elsewhere: no token, or the cookie without the
    // matching field, or a field without a cookie. None makes a request.
    let before = case_count(&app).await;
    for (client, token) in [
        (visitor(), None),
        (visitor(), Some("another-token-0123456789abcdefghijklmnopq")),
        (anonymous(), Some(FORM_TOKEN)),
    ] {
        let r = client
            .post(app.url("/submit"))
            .multipart(submit_form(token, "k-forged", None))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let html = r.text().await.expect("html");
        assert!(html.contains("表单已过期"), "{html}");
        // The visitor's text is kept for a second try.
        assert!(html.contains("路灯不亮"));
    }
    assert_eq!(case_count(&app).await, before);

    // A login posted without the token tries no password and sets no session.
    let r = visitor()
        .post(app.url("/login"))
        .form(&[("username", "d1.dispatcher"), ("password", "x")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .all(|v| !v.to_str().unwrap_or_default().starts_with("gz_session="))
    );
    // With it, the usual answer to a wrong password.
    let r = visitor()
        .post(app.url("/login"))
        .form(&[
            ("username", "d1.dispatcher"),
            ("password", "wrong-password"),
            ("form_token", FORM_TOKEN),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Lookups, ratings and a party's confirmations need it too.
    for path in ["/lookup", "/lookup/rate", "/lookup/record"] {
        let r = visitor()
            .post(app.url(path))
            .form(&[
                ("receipt_code", "X"),
                ("phone_last4", "1234"),
                ("satisfaction", "satisfied"),
                ("record_id", "r"),
                ("action", "a"),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
}
crate::db_test!(forged_posts_change_nothing);

async fn public_request_with_photos(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = visitor()
        .post(app.url("/submit"))
        .multipart(submit_form(
            Some(FORM_TOKEN),
            "key-1",
            Some((png_bytes(), "lamp.png")),
        ))
        .send()
        .await
        .expect("submit");
    assert_eq!(r.status(), StatusCode::CREATED);
    let html = r.text().await.expect("html");
    assert!(html.contains("id=\"photos-received\""), "{html}");
    let receipt = receipt_in(&html);
    let case = app
        .db
        .case_by_receipt(&receipt)
        .await
        .expect("lookup")
        .expect("case");
    let files = app.db.attachments_of(&case.id).await.expect("files");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].media_type, "image/png");
    // Routing explained in both languages.
    assert!(case.route_reason.is_some());
    assert!(case.route_reason_en.is_some());
    assert_ne!(case.route_reason, case.route_reason_en);

    // The same form sent again (a double click, a retry): the same request,
    // the photo once.
    let before = case_count(&app).await;
    let r = visitor()
        .post(app.url("/submit"))
        .multipart(submit_form(
            Some(FORM_TOKEN),
            "key-1",
            Some((png_bytes(), "lamp.png")),
        ))
        .send()
        .await
        .expect("again");
    assert_eq!(receipt_in(&r.text().await.expect("html")), receipt);
    assert_eq!(case_count(&app).await, before);
    assert_eq!(
        app.db.attachments_of(&case.id).await.expect("files").len(),
        1
    );

    // Something that is not a picture: refused, nothing made.
    let r = visitor()
        .post(app.url("/submit"))
        .multipart(submit_form(
            Some(FORM_TOKEN),
            "key-2",
            Some((b"#!/bin/sh\necho hi\n".to_vec(), "photo.jpg")),
        ))
        .send()
        .await
        .expect("bad photo");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("html")
            .contains("id=\"submit-errors\"")
    );
    assert_eq!(case_count(&app).await, before);
}
crate::db_test!(public_request_with_photos);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_addresses() {
    let app = spawn_app(Backend::Sqlite).await;
    let r = anonymous()
        .get(app.url("/no/such/page"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .header("cookie", "gz_lang=en")
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let html = r.text().await.expect("html");
    assert!(html.contains("id=\"error-title\""), "{html}");
    assert!(html.contains("Not found"), "{html}");
    // The API keeps its JSON errors.
    let r = anonymous()
        .get(app.url("/api/v1/no-such-thing"))
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["code"], "not_found");
    // So does a client that does not ask for HTML, wherever it asks.
    let r = anonymous()
        .get(app.url("/no/such/page"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("json client");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["code"], "not_found");
}
