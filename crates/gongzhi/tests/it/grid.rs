//! The grid worker's phone report: JSON and photos in one request, retried
//! safely on the client's key.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::attachments::{jpeg_with_gps, png_bytes};
use crate::harness::{Backend, TestApp, spawn_app};

async fn send(
    app: &TestApp,
    report: Value,
    photos: Vec<(Vec<u8>, &'static str)>,
) -> (StatusCode, Value) {
    let mut form = Form::new().text("event", report.to_string());
    for (bytes, name) in photos {
        form = form.part("photo", Part::bytes(bytes).file_name(name));
    }
    let r = app
        .client
        .post(app.url("/api/v1/grid/reports"))
        .bearer_auth(&app.keys["grid.g1a"])
        .multipart(form)
        .send()
        .await
        .expect("send");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn grid_reports_are_retry_safe(backend: Backend) {
    let app = spawn_app(backend).await;
    let report = json!({"client_key": "pad-7-000123", "title": "人行道井盖缺失", "description": "学校门口", "lng": 113.1, "lat": 28.05});
    let (status, first) = send(
        &app,
        report.clone(),
        vec![(jpeg_with_gps(), "IMG_0001.jpg")],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["attachments"].as_array().map(Vec::len), Some(1));
    // The answer got lost; the phone retries with a second photo added.
    let (status, again) = send(
        &app,
        report.clone(),
        vec![(jpeg_with_gps(), "IMG_0001.jpg"), (png_bytes(), "map.png")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["case_id"], first["case_id"]);
    assert_eq!(app.db.case_count().await.expect("count"), 1);
    let case_id = first["case_id"].as_str().expect("id");
    assert_eq!(
        app.db.attachments_of(case_id).await.expect("a").len(),
        2,
        "the repeated photo is not stored twice"
    );
    let case = app.db.case_unscoped(case_id).await.expect("c").expect("e");
    assert_eq!(case.fields["channel"], "grid");
    assert_eq!(case.area_unit_id.as_deref(), Some(app.unit("G1a").as_str()));

    // A bad photo refuses the whole report: nothing is created.
    let bad = json!({"client_key": "pad-7-000124", "title": "x", "lng": 113.1, "lat": 28.05});
    let (status, body) = send(&app, bad, vec![(b"not an image".to_vec(), "fake.jpg")]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported_file_type")
        )
    );
    assert_eq!(app.db.case_count().await.expect("count"), 1);
    // A missing key or report part is a clear error.
    let (status, body) = send(
        &app,
        json!({"client_key": "", "title": "x", "lng": 113.1, "lat": 28.05}),
        vec![],
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("client_key"))
    );
    let (status, body) = send(&app, json!({"title": "x"}), vec![]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body"))
    );
    app.stop().await;
}
crate::db_test!(grid_reports_are_retry_safe);
