//! Parties of a case: an operator records who an item concerns, each with a
//! role its pack declares; personal values are masked when listed, digested
//! in the log, shown in clear only by a logged reveal; a party added by
//! mistake is removed with a reason.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, spawn_app};

async fn an_operator_records_the_parties_and_their_personal_data_stays_masked(backend: Backend) {
    let app = spawn_app(backend).await;
    let case = app.create_item("邻里噪音纠纷").await;
    let path = format!("/api/v1/cases/{case}/parties");
    let applicant = json!({"role": "applicant", "kind": "person",
                           "fields": {"name": "王小明", "phone": "139-1234-5678", "note": "住三楼"}});
    let r = app.post(&path, "d1.operator", applicant).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let applicant_id = r.body["id"].as_str().expect("id").to_string();
    let respondent =
        json!({"role": "respondent", "kind": "organisation", "fields": {"name": "某某物业公司"}});
    assert_eq!(
        app.post(&path, "d1.operator", respondent).await.status,
        StatusCode::CREATED
    );

    // Bad parties are refused by field, and nothing is stored.
    for (body, field) in [
        (
            json!({"role": "judge", "kind": "person", "fields": {"name": "x"}}),
            "role",
        ),
        (
            json!({"role": "witness", "kind": "robot", "fields": {"name": "x"}}),
            "kind",
        ),
        (
            json!({"role": "witness", "kind": "person", "fields": {"phone": "13912345678"}}),
            "fields.name",
        ),
        (
            json!({"role": "witness", "kind": "person", "fields": {"name": "x", "phone": "call me"}}),
            "fields.phone",
        ),
        (
            json!({"role": "witness", "kind": "person", "fields": {"name": "x", "religion": "y"}}),
            "fields.religion",
        ),
    ] {
        let r = app.post(&path, "d1.operator", body.clone()).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}"
        );
    }

    // Listed with personal values masked; the note is not personal.
    let r = app.get(&path, "d1.dispatcher").await;
    assert_eq!(r.status, StatusCode::OK);
    let parties = r.body["parties"].as_array().cloned().unwrap_or_default();
    assert_eq!(parties.len(), 2);
    assert_eq!(parties[0]["role"], "applicant");
    assert_eq!(parties[0]["fields"]["phone"], "139****5678");
    assert_ne!(parties[0]["fields"]["name"], "王小明");
    assert_eq!(parties[0]["fields"]["note"], "住三楼");
    assert_eq!(parties[1]["kind"], "organisation");
    // Another district does not see the case at all.
    assert_eq!(
        app.get(&path, "d2.dispatcher").await.status,
        StatusCode::NOT_FOUND
    );

    // The log commits to the party with digests, never the clear values.
    let timeline = app.db.timeline(&case).await.expect("timeline");
    let entry = timeline
        .iter()
        .find(|e| e.action == "party.add")
        .expect("logged");
    let logged = serde_json::to_string(&entry.changes).expect("json");
    assert!(
        !logged.contains("王小明") && !logged.contains("13912345678"),
        "{logged}"
    );
    assert!(
        logged.contains("住三楼"),
        "a field not marked personal is logged as it is"
    );

    // A reveal with a purpose shows them in clear and is recorded.
    let before = app.db.personal_reads_count(&case).await.expect("reads");
    let r = app
        .post(
            &format!("/api/v1/cases/{case}/reveal"),
            "d1.dispatcher",
            json!({"purpose": "电话联系申请人安排调解"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["parties"][&applicant_id]["phone"], "139-1234-5678");
    assert_eq!(r.body["parties"][&applicant_id]["name"], "王小明");
    assert_eq!(
        app.db.personal_reads_count(&case).await.expect("reads"),
        before + 1
    );

    // The case page lists the parties, masked.
    let (browser, _) = crate::pages::session(&app, "d1.dispatcher").await;
    let html = browser
        .get(app.url(&format!("/cases/{case}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("id=\"case-parties\"") && html.contains("申请人"),
        "parties section"
    );
    assert!(!html.contains("139-1234-5678") && html.contains("139****5678"));

    // Removed with a reason; the log says so.
    let remove = format!("/api/v1/cases/{case}/parties/{applicant_id}/remove");
    let r = app
        .post(&remove, "d1.operator", json!({"reason": ""}))
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
    );
    let r = app
        .post(
            &remove,
            "d1.operator",
            json!({"reason": "录入错误，应为证人"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let left: Vec<Value> = app.get(&path, "d1.operator").await.body["parties"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(left.len(), 1);
    let actions: Vec<String> = app
        .db
        .timeline(&case)
        .await
        .expect("t")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"party.remove".to_string()));
    assert_eq!(
        app.post(&remove, "d1.operator", json!({"reason": "again"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}
crate::db_test!(an_operator_records_the_parties_and_their_personal_data_stays_masked);

async fn a_case_type_without_parties_refuses_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let case = app.create_request("路灯不亮").await;
    let r = app
        .post(
            &format!("/api/v1/cases/{case}/parties"),
            "d1.operator",
            json!({"role": "applicant", "kind": "person", "fields": {"name": "x"}}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("role"))
    );
    app.stop().await;
}
crate::db_test!(a_case_type_without_parties_refuses_them);
