//! A case assigned to a person as well as to a unit: a handler names the
//! officer who works an item, from those who hold the field's role over the
//! holding unit; the work list and the load follow; moving the item to a unit
//! the officer does not work for lets them go, in the same logged step.

use reqwest::StatusCode;
use serde_json::{Value, json};

use gongzhi::audit::verify_log;
use gongzhi_web::{LogConfig, ServerConfig};

use crate::harness::{Backend, TestApp, spawn_app, spawn_app_with};
use crate::log::{ORIGIN, signer, verifier};
use crate::pages::session;

async fn user_id(app: &TestApp, username: &str) -> String {
    app.db
        .user_by_username(username)
        .await
        .expect("user")
        .expect("user exists")
        .id
}

fn usernames(candidates: &Value) -> Vec<String> {
    candidates["fields"]["officer"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["username"].as_str().map(str::to_string))
        .collect()
}

async fn open_load(app: &TestApp, case: &str, username: &str) -> i64 {
    let r = app
        .get(&format!("/api/v1/cases/{case}/candidates"), "cg.handler")
        .await;
    r.body["fields"]["officer"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["username"] == username)
        .and_then(|c| c["open_cases"].as_i64())
        .unwrap_or(-1)
}

async fn listed_for(app: &TestApp, user: &str, case: &str) -> bool {
    let r = app.get("/api/v1/cases?assignee=me&limit=500", user).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["cases"]
        .as_array()
        .is_some_and(|a| a.iter().any(|c| c["id"] == case))
}

crate::db_test!(a_handler_names_the_officer_and_work_follows_them);
async fn a_handler_names_the_officer_and_work_follows_them(backend: Backend) {
    let key = signer(ORIGIN, false);
    let config = ServerConfig {
        log: LogConfig::new(key.clone()),
        ..ServerConfig::default()
    };
    let app = spawn_app_with(backend, config).await;
    let case = app.create_item("路灯不亮").await;
    let r = app
        .act(
            &case,
            "d1.dispatcher",
            json!({"action": "assign", "target_unit": app.unit("D1-CG")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .act(&case, "cg.handler", json!({"action": "accept"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // Who may be named: handlers over the department, with their load.
    let candidates = app
        .get(&format!("/api/v1/cases/{case}/candidates"), "cg.handler")
        .await;
    assert_eq!(candidates.status, StatusCode::OK, "{:?}", candidates.body);
    let names = usernames(&candidates.body);
    assert!(names.contains(&"cg.handler".to_string()), "{names:?}");
    assert!(names.contains(&"d1.handler".to_string()), "{names:?}");
    assert!(!names.contains(&"citycg.handler".to_string()), "{names:?}");
    assert!(!names.contains(&"d2.handler".to_string()), "{names:?}");
    assert!(!names.contains(&"d1.dispatcher".to_string()), "{names:?}");
    assert_eq!(open_load(&app, &case, "cg.handler").await, 0);

    // A handler of another department is refused by the field's name, and
    // nothing changes.
    let before = app
        .get(&format!("/api/v1/cases/{case}"), "cg.handler")
        .await;
    let outsider = user_id(&app, "citycg.handler").await;
    let r = app
        .act(
            &case,
            "cg.handler",
            json!({"action": "take_on", "fields": {"officer": outsider}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "officer", "{:?}", r.body);
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(message.contains("handler"), "{message}");
    let after = app
        .get(&format!("/api/v1/cases/{case}"), "cg.handler")
        .await;
    assert_eq!(after.body["version"], before.body["version"]);
    assert_eq!(after.body["assignee_user_id"], Value::Null);

    // The department's own handler takes it on: the case names them, their
    // work list shows it and their load counts it.
    let officer = user_id(&app, "cg.handler").await;
    let r = app
        .act(
            &case,
            "cg.handler",
            json!({"action": "take_on", "fields": {"officer": officer}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let now = app
        .get(&format!("/api/v1/cases/{case}"), "cg.handler")
        .await;
    assert_eq!(now.body["assignee_user_id"], officer.as_str());
    assert!(listed_for(&app, "cg.handler", &case).await);
    assert!(!listed_for(&app, "d1.handler", &case).await);
    assert_eq!(open_load(&app, &case, "cg.handler").await, 1);
    // The work list has a queue of one's own.
    let (client, _) = session(&app, "cg.handler").await;
    let (colleague, _) = session(&app, "d1.handler").await;
    for (user, browser, listed) in [
        ("cg.handler", &client, true),
        ("d1.handler", &colleague, false),
    ] {
        let html = browser
            .get(app.url("/work?queue=mine"))
            .send()
            .await
            .expect("work")
            .text()
            .await
            .expect("html");
        assert!(html.contains("指派给我"), "{html}");
        assert_eq!(html.contains("路灯不亮"), listed, "{user}: {html}");
    }

    // The case page shows the officer by name and offers the candidates.
    let html = client
        .get(app.url(&format!("/cases/{case}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("经办人"), "{html}");
    assert!(html.contains(&format!("value=\"{officer}\"")), "{html}");
    assert!(!html.contains(&format!("value=\"{outsider}\"")), "{html}");

    // Transferred to a street the officer does not work for: the assignment
    // ends with the move, in the same entry of the log.
    let r = app
        .act(
            &case,
            "d1.dispatcher",
            json!({"action": "transfer", "target_unit": app.unit("S1"), "reason": "属地街道办理"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let moved = app
        .get(&format!("/api/v1/cases/{case}"), "d1.dispatcher")
        .await;
    assert_eq!(
        moved.body["assignee_user_id"],
        Value::Null,
        "{:?}",
        moved.body
    );
    assert!(
        moved.body["fields"].get("officer").is_none(),
        "{:?}",
        moved.body
    );
    assert!(!listed_for(&app, "cg.handler", &case).await);
    let timeline = app
        .get(&format!("/api/v1/cases/{case}/timeline"), "d1.dispatcher")
        .await;
    let entries = timeline.body["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let take_on = entries
        .iter()
        .find(|e| e["action"] == "take_on")
        .expect("take_on");
    assert_eq!(take_on["changes"]["officer"]["after"], officer.as_str());
    let transfer = entries
        .iter()
        .find(|e| e["action"] == "transfer")
        .expect("transfer");
    assert_eq!(transfer["changes"]["officer"]["before"], officer.as_str());
    assert!(
        transfer["changes"]["officer"]["after"].is_null(),
        "{transfer}"
    );
    assert!(
        transfer["changes"]["holder_unit_id"].is_object(),
        "{transfer}"
    );

    // The log still replays to the rows people read.
    if let Err(e) = verify_log(&app.db, &[verifier(&key)]).await {
        panic!("{e}");
    }
    app.stop().await;
}

crate::db_test!(no_one_is_named_when_an_item_is_registered);
async fn no_one_is_named_when_an_item_is_registered(backend: Backend) {
    let app = spawn_app(backend).await;
    let officer = user_id(&app, "d1.handler").await;
    let r = app
        .post(
            "/api/v1/cases",
            "d1.operator",
            json!({"pack": "generic", "case_type": "item", "lng": 113.1, "lat": 28.05,
                   "fields": {"title": "登记时指定", "officer": officer}}),
        )
        .await;
    // `officer` is not among the creation action's fields, whatever it holds.
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "officer", "{:?}", r.body);
    app.stop().await;
}
