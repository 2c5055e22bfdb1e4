//! Records a case holds many of: the handling unit plans a site visit and
//! records its finding, and keeps an expense ledger to the fen. Roles the
//! pack does not name may not add them; a record's life refuses a step out of
//! turn; every step is in the case's log.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, spawn_app};
use crate::pages::{location, session};

async fn records(app: &TestApp, case: &str, user: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/cases/{case}/records"), user)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["records"].as_array().cloned().unwrap_or_default()
}

crate::db_test!(a_handler_records_a_visit_and_the_costs);
async fn a_handler_records_a_visit_and_the_costs(backend: Backend) {
    let app = spawn_app(backend).await;
    let case = app.create_item("桥面伸缩缝破损").await;
    let r = app
        .act(
            &case,
            "d1.dispatcher",
            json!({"action": "assign", "target_unit": app.unit("D1-CG"), "reason": "桥梁归城管养护"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let path = format!("/api/v1/cases/{case}/records");

    // The operator may see the case but the pack gives visits to handlers.
    let r = app
        .post(
            &path,
            "d1.operator",
            json!({"kind": "visit", "fields": {"on": "2026-12-08"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "kind");
    // Bad input names the field; an undeclared kind lists the declared ones.
    for (body, field) in [
        (json!({"kind": "visit", "fields": {}}), "fields.on"),
        (
            json!({"kind": "visit", "fields": {"on": "明天"}}),
            "fields.on",
        ),
        (
            json!({"kind": "visit", "fields": {"on": "2026-12-08", "colour": "红"}}),
            "fields.colour",
        ),
        (json!({"kind": "meeting", "fields": {}}), "kind"),
        (
            json!({"kind": "expense", "fields": {"amount": 12.5, "purpose": "材料"}}),
            "fields.amount",
        ),
    ] {
        let r = app.post(&path, "cg.handler", body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            r.body
        );
        assert_eq!(r.body["field"], field, "{body}: {:?}", r.body);
    }
    assert!(records(&app, &case, "cg.handler").await.is_empty());

    // A visit is planned, then its finding recorded; out of turn is refused.
    let r = app
        .post(
            &path,
            "cg.handler",
            json!({"kind": "visit", "fields": {"on": "2026-12-08", "place": "东湖大桥北引桥"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let visit = r.body["id"].as_str().expect("id").to_string();
    let act = format!("/api/v1/cases/{case}/records/{visit}/actions");
    let r = app
        .post(
            &act,
            "cg.handler",
            json!({"action": "record_finding", "fields": {}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "fields.finding");
    let r = app
        .post(
            &act,
            "cg.handler",
            json!({"action": "record_finding", "fields": {"finding": "伸缩缝钢板翘起约3厘米"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["state"], "done");
    let r = app
        .post(&act, "cg.handler", json!({"action": "cancel"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "action");

    // Two expenses, kept to the fen.
    for (amount, purpose) in [("1280.5", "钢板材料"), ("300", "夜间施工")] {
        let r = app
            .post(
                &path,
                "cg.handler",
                json!({"kind": "expense", "fields": {"amount": amount, "purpose": purpose}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let all = records(&app, &case, "d1.operator").await;
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["kind"], "visit");
    assert_eq!(all[0]["state"], "done");
    assert_eq!(all[0]["fields"]["finding"], "伸缩缝钢板翘起约3厘米");
    let amounts: Vec<&str> = all
        .iter()
        .filter(|r| r["kind"] == "expense")
        .filter_map(|r| r["fields"]["amount"].as_str())
        .collect();
    assert_eq!(amounts, vec!["1280.50", "300.00"]);
    assert!(all[1]["state"].is_null(), "an expense has no life");

    // Out of scope, the records are of a case that does not exist.
    let r = app.get(&path, "d2.handler").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["code"], "case_not_found");

    // Each step is in the case's log.
    let timeline = app
        .get(&format!("/api/v1/cases/{case}/timeline"), "cg.handler")
        .await;
    let actions: Vec<String> = timeline.body["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("record."))
        .map(str::to_string)
        .collect();
    assert_eq!(
        actions,
        vec!["record.add", "record.act", "record.add", "record.add"]
    );

    // On the case page: the kinds with their records, a form to add one.
    let (client, csrf) = session(&app, "cg.handler").await;
    let html = client
        .get(app.url(&format!("/cases/{case}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    for text in [
        "现场核查",
        "已核查",
        "伸缩缝钢板翘起约3厘米",
        "费用台账",
        "1280.50",
        "id=\"record-add-expense\"",
    ] {
        assert!(html.contains(text), "{text}: {html}");
    }
    let post = |fields: Vec<(&'static str, &'static str)>| {
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", csrf.as_str()), ("kind", "expense")];
        form.extend(fields);
        client
            .post(app.url(&format!("/cases/{case}/records")))
            .form(&form)
            .send()
    };
    let r = post(vec![("f.amount", "很多"), ("f.purpose", "胶水")])
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("html");
    assert!(html.contains("id=\"record-error\""), "{html}");
    let r = post(vec![("f.amount", "45.8"), ("f.purpose", "胶水")])
        .await
        .expect("post");
    assert_eq!(location(&r), format!("/cases/{case}?done=1#h-records"));
    assert_eq!(records(&app, &case, "cg.handler").await.len(), 4);
    // The operator sees the records but no form to add them.
    let (operator, _) = session(&app, "d1.operator").await;
    let html = operator
        .get(app.url(&format!("/cases/{case}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("费用台账") && !html.contains("id=\"record-add-expense\""));
    app.stop().await;
}
