//! The requests pack end to end through the API: dispatch, return and its
//! escalation, joint handling, extension, suspension, follow-up and re-handling,
//! verification, close, void with a link, reopen, idempotent intake.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, spawn_app};

async fn ok(app: &TestApp, case: &str, user: &str, body: Value) -> Value {
    let r = app.act(case, user, body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{user} {body}: {:?}", r.body);
    r.body
}

async fn state(app: &TestApp, case: &str) -> String {
    app.db
        .case_unscoped(case)
        .await
        .expect("case")
        .expect("exists")
        .state
}

async fn full_request_with_rework(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_request("路面塌陷").await;
    assert_eq!(state(&app, &id).await, "registered");
    ok(
        &app,
        &id,
        "d1.dispatcher",
        json!({"action": "dispatch", "target_unit": app.unit("D1-CG")}),
    )
    .await;
    ok(&app, &id, "cg.handler", json!({"action": "accept"})).await;

    // Joint handling: the city bureau assists; the lead cannot report until it has.
    ok(&app, &id, "d1.dispatcher", json!({"action": "add_assist", "target_unit": app.unit("CG"), "fields": {"assist_task": "调查地下管线"}})).await;
    let dup = app.act(&id, "d1.dispatcher", json!({"action": "add_assist", "target_unit": app.unit("CG"), "fields": {"assist_task": "again"}})).await;
    assert_eq!(
        (dup.status, dup.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("target_unit"))
    );
    // The assisting unit now sees the case, but cannot act as the lead.
    assert_eq!(
        app.get(&format!("/api/v1/cases/{id}"), "citycg.handler")
            .await
            .status,
        StatusCode::OK
    );
    let r = app
        .act(
            &id,
            "citycg.handler",
            json!({"action": "report", "fields": {"result": "x", "outcome": "resolved"}}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "role_not_allowed")
    );
    let r = app
        .act(
            &id,
            "cg.handler",
            json!({"action": "report", "fields": {"result": "已修复", "outcome": "resolved"}}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "precondition_failed")
    );
    ok(
        &app,
        &id,
        "citycg.handler",
        json!({"action": "report_assist", "fields": {"assist_result": "管线正常"}}),
    )
    .await;
    // Its task done, the assisting unit no longer sees the case.
    assert_eq!(
        app.get(&format!("/api/v1/cases/{id}"), "citycg.handler")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Extension: asked by the handler, granted by the dispatcher; the deadline moves.
    ok(&app, &id, "cg.handler", json!({"action": "request_extension", "reason": "需要协调施工队", "fields": {"extension_working_days": 3}})).await;
    let before = app
        .db
        .deadlines_of(&id)
        .await
        .expect("d")
        .into_iter()
        .find(|d| d.status == "active")
        .expect("running");
    ok(
        &app,
        &id,
        "d1.dispatcher",
        json!({"action": "approve_extension", "fields": {"extension_working_days": 3}}),
    )
    .await;
    let after = app
        .db
        .deadlines_of(&id)
        .await
        .expect("d")
        .into_iter()
        .find(|d| d.status == "active")
        .expect("running");
    assert_eq!(before.id, after.id);
    assert!(after.due_at > before.due_at);

    // Suspension pauses the clock; resumption restarts the same deadline.
    ok(
        &app,
        &id,
        "d1.dispatcher",
        json!({"action": "suspend", "reason": "等待司法鉴定"}),
    )
    .await;
    let paused = app
        .db
        .deadlines_of(&id)
        .await
        .expect("d")
        .into_iter()
        .find(|d| d.id == before.id)
        .expect("same");
    assert_eq!((paused.status.as_str(), paused.due_at), ("paused", None));
    ok(&app, &id, "d1.dispatcher", json!({"action": "resume"})).await;
    let resumed = app
        .db
        .deadlines_of(&id)
        .await
        .expect("d")
        .into_iter()
        .find(|d| d.id == before.id)
        .expect("same");
    assert_eq!(resumed.status, "active");
    assert!(resumed.due_at.is_some());

    ok(
        &app,
        &id,
        "cg.handler",
        json!({"action": "report", "fields": {"result": "已回填路面", "outcome": "resolved"}}),
    )
    .await;
    // 不满意 sends it back to the handler (重办).
    ok(
        &app,
        &id,
        "d1.operator",
        json!({"action": "follow_up", "fields": {"satisfaction": "unsatisfied"}}),
    )
    .await;
    assert_eq!(state(&app, &id).await, "in_progress");
    ok(
        &app,
        &id,
        "cg.handler",
        json!({"action": "report", "fields": {"result": "重新修复并验收", "outcome": "resolved"}}),
    )
    .await;
    ok(
        &app,
        &id,
        "d1.operator",
        json!({"action": "follow_up", "fields": {"satisfaction": "satisfied"}}),
    )
    .await;
    assert_eq!(state(&app, &id).await, "rated");
    // The grid worker verifies on site.
    ok(&app, &id, "grid.g1a", json!({"action": "verify", "fields": {"verification": "passed", "verify_note": "现场已平整"}})).await;
    ok(&app, &id, "d1.dispatcher", json!({"action": "close"})).await;
    let case = app
        .db
        .case_unscoped(&id)
        .await
        .expect("case")
        .expect("exists");
    assert_eq!(case.state, "closed");
    // Closed and the outcome are separate facts.
    assert_eq!(case.fields["outcome"], "resolved");
    assert_eq!(case.fields["satisfaction"], "satisfied");

    let timeline = app.db.timeline(&id).await.expect("timeline");
    let actions: Vec<&str> = timeline.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "create",
            "dispatch",
            "accept",
            "add_assist",
            "report_assist",
            "request_extension",
            "approve_extension",
            "suspend",
            "resume",
            "report",
            "follow_up",
            "report",
            "follow_up",
            "verify",
            "close"
        ]
    );
    assert_eq!(timeline[10].to_state, "in_progress");
    assert!(timeline[6].changes.get("deadline_due").is_some());

    // Reopen after close.
    let r = app
        .act(&id, "d1.dispatcher", json!({"action": "reopen"}))
        .await;
    assert_eq!(r.code(), "reason_required");
    ok(
        &app,
        &id,
        "d1.supervisor",
        json!({"action": "reopen", "reason": "群众再次反映"}),
    )
    .await;
    assert_eq!(state(&app, &id).await, "in_progress");
    app.stop().await;
}
crate::db_test!(full_request_with_rework);

async fn repeated_returns_escalate(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_request("占道经营").await;
    for round in 0..3 {
        ok(
            &app,
            &id,
            "d1.dispatcher",
            json!({"action": "dispatch", "target_unit": app.unit("D1-CG")}),
        )
        .await;
        let body = ok(
            &app,
            &id,
            "cg.handler",
            json!({"action": "return", "reason": format!("第{round}次退回")}),
        )
        .await;
        let holder = app
            .db
            .case_unscoped(&id)
            .await
            .expect("c")
            .expect("e")
            .holder_unit_id;
        if round < 2 {
            assert_eq!(holder, app.unit("D1"), "round {round}");
        } else {
            // The third return goes past the district to the city.
            assert_eq!(holder, app.unit("C"), "{body}");
        }
    }
    // The district dispatcher still sees it (its area), but the city dispatcher now rules.
    ok(
        &app,
        &id,
        "city.dispatcher",
        json!({"action": "dispatch", "target_unit": app.unit("CG"), "reason": "区级多次退回，市级统筹"}),
    )
    .await;
    app.stop().await;
}
crate::db_test!(repeated_returns_escalate);

async fn void_links_the_original(backend: Backend) {
    let app = spawn_app(backend).await;
    let original = app.create_request("路灯不亮").await;
    let receipt = app
        .db
        .case_unscoped(&original)
        .await
        .expect("c")
        .expect("e")
        .receipt_code;
    let dup = app.create_request("路灯不亮（重复）").await;
    let r = app.act(&dup, "d1.dispatcher", json!({"action": "void", "reason": "重复件", "fields": {"duplicate_of": "ABC-DEFGH-2"}})).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("duplicate_of"))
    );
    let r = app.act(&dup, "d1.dispatcher", json!({"action": "void", "reason": "重复件", "fields": {"duplicate_of": receipt.to_lowercase()}})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(state(&app, &dup).await, "void");
    let case = app.db.case_unscoped(&dup).await.expect("c").expect("e");
    assert_eq!(case.fields["duplicate_of"], receipt.as_str());
    app.stop().await;
}
crate::db_test!(void_links_the_original);

async fn intake_is_idempotent(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({"pack": "requests", "case_type": "request", "lng": 113.1, "lat": 28.05,
                      "fields": {"title": "网格员上报：垃圾堆放", "channel": "grid"}});
    let send = |key: &'static str| {
        let client = app.client.clone();
        let url = app.url("/api/v1/cases");
        let token = app.keys["grid.g1a"].clone();
        let body = body.clone();
        async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .expect("send")
        }
    };
    let first = send("phone-1234-0001").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.expect("json");
    // A retry over a bad network: same key, same case, nothing new.
    let (a, b) = tokio::join!(send("phone-1234-0001"), send("phone-1234-0001"));
    for r in [a, b] {
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["id"], first["id"]);
    }
    assert_eq!(app.db.case_count().await.expect("count"), 1);
    // Another key is another report.
    assert_eq!(send("phone-1234-0002").await.status(), StatusCode::CREATED);
    assert_eq!(app.db.case_count().await.expect("count"), 2);
    app.stop().await;
}
crate::db_test!(intake_is_idempotent);

/// Intake suggests a lead unit by category and place, with its reason; the
/// dispatcher may override it only with a reason, and the log keeps both.
async fn routing_suggestion_and_override(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .post(
            "/api/v1/cases",
            "d1.operator",
            json!({"pack": "requests", "case_type": "request", "lng": 113.1, "lat": 28.05,
                   "fields": {"title": "小区道路破损", "category": "R01.02"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["suggested_unit_id"], app.unit("D1-CG"));
    let reason = r.body["route_reason"].as_str().unwrap_or("");
    assert!(reason.contains("test_construction_d1"), "{reason}");
    let id = r.body["id"].as_str().expect("id").to_string();
    // Category deadlines: R01.02 gives 10 working days of handling (checked when accepted).
    let r = app
        .act(
            &id,
            "d1.dispatcher",
            json!({"action": "dispatch", "target_unit": app.unit("CG")}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
    );
    ok(
        &app,
        &id,
        "d1.dispatcher",
        json!({"action": "dispatch", "target_unit": app.unit("CG"), "reason": "涉及市政主干道"}),
    )
    .await;
    let timeline = app.db.timeline(&id).await.expect("timeline");
    assert_eq!(
        timeline[1].changes["route_override"]["before"],
        app.unit("D1-CG")
    );
    assert_eq!(
        timeline[1].changes["route_override"]["after"],
        app.unit("CG")
    );
    ok(&app, &id, "citycg.handler", json!({"action": "accept"})).await;
    let running = app
        .db
        .deadlines_of(&id)
        .await
        .expect("d")
        .into_iter()
        .find(|d| d.status == "active")
        .expect("running");
    assert_eq!(running.rule, "10 working_days");

    // An unknown category is refused; no place at all goes to the manual queue.
    let r = app
        .post("/api/v1/cases", "d1.operator", json!({"pack": "requests", "case_type": "request", "fields": {"title": "x", "category": "R99.99"}}))
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("category"))
    );
    let r = app
        .post("/api/v1/cases", "d1.operator", json!({"pack": "requests", "case_type": "request", "fields": {"title": "电话反映，地点不详", "category": "R01.02"}}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.body["suggested_unit_id"].is_null());
    assert!(!r.body["route_reason"].as_str().unwrap_or("").is_empty());
    let queue = app
        .get(
            "/api/v1/cases?queue=manual&state=registered",
            "d1.dispatcher",
        )
        .await;
    let ids: Vec<&str> = queue.body["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, vec![r.body["id"].as_str().unwrap_or("")]);
    assert_eq!(
        app.get("/api/v1/cases?queue=other", "d1.dispatcher")
            .await
            .body["field"],
        "queue"
    );
    app.stop().await;
}
crate::db_test!(routing_suggestion_and_override);

/// The citizen's lookup: receipt code + last 4 phone digits; a public timeline
/// without staff names, personal data or internal notes; guesses are throttled.
async fn public_lookup_shows_only_public_things(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_request("楼道灯坏了").await;
    ok(&app, &id, "d1.dispatcher", json!({"action": "dispatch", "target_unit": app.unit("D1-CG"), "reason": "辖区城管", "fields": {"internal_note": "此人多次来电"}})).await;
    ok(&app, &id, "cg.handler", json!({"action": "accept"})).await;
    ok(
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
    let lookup = |code: String, digits: &'static str| {
        let client = app.client.clone();
        let url = app.url("/api/v1/public/lookup");
        async move {
            let r = client
                .post(url)
                .json(&json!({"receipt_code": code, "phone_last4": digits}))
                .send()
                .await
                .expect("send");
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = lookup(receipt.clone(), "5678").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"]["zh"], "待回访");
    let text = body.to_string();
    for secret in [
        "13912345678",
        "此人多次来电",
        "d1.dispatcher",
        "cg.handler",
        "辖区城管",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert!(text.contains("已更换灯具"), "the public result is shown");
    assert!(text.contains("一区城管局"), "the acting unit is shown");
    // Wrong digits and unknown codes answer the same.
    let (s1, b1) = lookup(receipt.clone(), "0000").await;
    let (s2, b2) = lookup(gongzhi_domain::ids::random_receipt_code(), "5678").await;
    assert_eq!(s1, StatusCode::NOT_FOUND);
    assert_eq!(s2, StatusCode::NOT_FOUND);
    assert_eq!(
        b1, b2,
        "no oracle: wrong digits and unknown codes answer alike"
    );
    let (s, b) = lookup("not a code".into(), "5678").await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("receipt_code"))
    );
    // Guessing the digits of one code is throttled, even with the right ones after.
    for _ in 0..5 {
        lookup(receipt.clone(), "1111").await;
    }
    let (s, b) = lookup(receipt.clone(), "5678").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts"))
    );
    app.stop().await;
}
crate::db_test!(public_lookup_shows_only_public_things);

/// Group commit: many creations at once land with a dense log; a request that
/// fails only when written (here: an area unit that does not exist) is refused
/// alone, the others in its batch still land.
async fn grouped_intake_isolates_failures(backend: Backend) {
    use gongzhi_domain::engine::ActionRequest;
    use gongzhi_store::{NewCase, Place};
    let app = spawn_app(backend).await;
    let actor = app
        .db
        .actor(
            &app.db
                .user_by_username("d1.operator")
                .await
                .expect("u")
                .expect("exists")
                .id,
        )
        .await
        .expect("a")
        .expect("actor");
    let new = |title: &str, area: &str| NewCase {
        pack: "requests".into(),
        case_type: "request".into(),
        request: ActionRequest {
            action: "create".into(),
            fields: serde_json::from_value(json!({"title": title})).expect("fields"),
            reason: None,
            target_unit: None,
        },
        place: Place {
            lng: Some(113.1),
            lat: Some(28.05),
            area_unit_id: Some(area.to_string()),
        },
        acting_unit: None,
        suggestion: None,
        idempotency_key: Some(format!("key-{title}")),
    };
    let at = gongzhi_domain::time::now_micros();
    let g1a = app.unit("G1a");
    let batch = vec![
        (actor.clone(), new("一", &g1a), at),
        (actor.clone(), new("二", "u-nowhere"), at),
        (actor.clone(), new("三", &g1a), at),
        (actor.clone(), new("一", &g1a), at),
    ];
    let results = app
        .db
        .create_cases_batch(app.state.rules(&app.state.taxonomies()), batch)
        .await;
    assert_eq!(results.len(), 4);
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(
        matches!(&results[1], Err(gongzhi_store::ActError::Invalid { field, .. }) if field == "area_unit_id"),
        "{results:?}"
    );
    // The same key twice in one batch: one case.
    let first = results[0].as_ref().expect("ok").case_id.clone();
    assert_eq!(results[3].as_ref().expect("ok").case_id, first);
    assert_eq!(app.db.case_count().await.expect("count"), 2);

    // Through the API, many at once: all land, the log is dense and hashes.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let client = app.client.clone();
        let url = app.url("/api/v1/cases");
        let key = app.keys["d1.operator"].clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"pack": "requests", "case_type": "request", "lng": 113.1, "lat": 28.05, "fields": {"title": format!("并发{i}")}}))
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join").expect("send"), StatusCode::CREATED);
    }
    assert_eq!(app.db.case_count().await.expect("count"), 42);
    let log = app.db.log_entries(0, 1000).await.expect("log");
    assert_eq!(log.len(), 42);
    for (i, (entry, stored)) in log.iter().enumerate() {
        assert_eq!(entry.seq, i as u64);
        assert_eq!(&entry.leaf_hash_hex(), stored);
    }
    app.stop().await;
}
crate::db_test!(grouped_intake_isolates_failures);

/// An assisting unit's task has its own deadline: past it, the worker marks
/// the task overdue once, with a system log entry.
async fn assist_tasks_have_their_own_deadline(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_request("积水严重").await;
    ok(
        &app,
        &id,
        "d1.dispatcher",
        json!({"action": "dispatch", "target_unit": app.unit("D1-CG"), "reason": "辖区城管"}),
    )
    .await;
    ok(&app, &id, "cg.handler", json!({"action": "accept"})).await;
    ok(&app, &id, "d1.dispatcher", json!({"action": "add_assist", "target_unit": app.unit("CG"), "fields": {"assist_task": "疏通市政管网"}})).await;
    let far = gongzhi_domain::time::now_micros() + 90 * gongzhi_domain::time::MICROS_PER_DAY;
    assert!(app.db.fire_due_deadlines(far, 100).await.expect("fire") >= 1);
    app.db
        .fire_due_deadlines(far, 100)
        .await
        .expect("fire again");
    let timeline = app.db.timeline(&id).await.expect("timeline");
    let overdue: Vec<_> = timeline
        .iter()
        .filter(|e| e.action == "assist_overdue")
        .collect();
    assert_eq!(overdue.len(), 1);
    assert!(overdue[0].actor_id.is_none());
    assert_eq!(
        overdue[0].changes["assist"]["after"]["unit_id"],
        app.unit("CG")
    );
    app.stop().await;
}
crate::db_test!(assist_tasks_have_their_own_deadline);
