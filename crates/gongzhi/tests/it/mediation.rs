//! The mediation pack on the general engine: a hotline request turns out to
//! be a neighbours' dispute; the district's mediation clerk registers it, a
//! mediator takes it through two sessions to an agreement that takes effect
//! only once both parties have confirmed it, the parties apply for judicial
//! confirmation within the 30 days, and performance is followed up. Another
//! dispute ends without agreement and is referred to court, and one whose
//! 30 days ran out is refused its confirmation, saying why.

use reqwest::StatusCode;
use serde_json::{Value, json};

use gongzhi::audit::verify_log;
use gongzhi_store::{DeadlineRecord, sha256_hex};
use gongzhi_web::{LogConfig, ServerConfig};

use crate::harness::{Backend, TestApp, spawn_app, spawn_app_with};
use crate::log::{ORIGIN, signer, verifier};

const CLERK: &str = "d1.mediation_clerk";
const MEDIATOR: &str = "d1.mediator";

async fn user_id(app: &TestApp, username: &str) -> String {
    app.db
        .user_by_username(username)
        .await
        .expect("user")
        .expect("exists")
        .id
}

async fn ok(app: &TestApp, case: &str, user: &str, body: Value) {
    let r = app.act(case, user, body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{body}: {:?}", r.body);
}

async fn clock(app: &TestApp, case: &str, id: &str) -> Option<DeadlineRecord> {
    app.db
        .deadlines_of(case)
        .await
        .expect("deadlines")
        .into_iter()
        .rev()
        .find(|d| d.clock.as_deref() == Some(id))
}

/// Registers a dispute at D1 as its mediation clerk, with both parties.
async fn register(app: &TestApp, title: &str, fields: Value) -> String {
    let mut all = json!({"title": title, "dispute_kind": "neighbours", "source": "walk_in"});
    if let (Some(all), Some(more)) = (all.as_object_mut(), fields.as_object()) {
        all.extend(more.clone());
    }
    let r = app
        .post(
            "/api/v1/cases",
            CLERK,
            json!({"pack": "mediation", "case_type": "dispute", "lng": 113.1, "lat": 28.05,
                   "fields": all}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let case = r.body["id"].as_str().expect("id").to_string();
    let parties = format!("/api/v1/cases/{case}/parties");
    for party in [
        json!({"role": "applicant", "kind": "person",
               "fields": {"name": "李桂英", "phone": "13907310001", "id_number": "430102196505123021"}}),
        json!({"role": "respondent", "kind": "person",
               "fields": {"name": "周建国", "phone": "13907310002"}}),
    ] {
        let r = app.post(&parties, CLERK, party).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    case
}

/// Takes a registered dispute on and assigns the D1 mediator.
async fn start_mediation(app: &TestApp, case: &str) {
    ok(app, case, CLERK, json!({"action": "accept"})).await;
    let mediator = user_id(app, MEDIATOR).await;
    ok(
        app,
        case,
        CLERK,
        json!({"action": "assign_mediator", "fields": {"mediator": mediator}}),
    )
    .await;
}

async fn add_record(app: &TestApp, case: &str, kind: &str, fields: Value) -> String {
    let r = app
        .post(
            &format!("/api/v1/cases/{case}/records"),
            MEDIATOR,
            json!({"kind": kind, "fields": fields}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_str().expect("record id").to_string()
}

async fn record_act(app: &TestApp, case: &str, record: &str, body: Value) -> (StatusCode, Value) {
    let r = app
        .post(
            &format!("/api/v1/cases/{case}/records/{record}/actions"),
            MEDIATOR,
            body,
        )
        .await;
    (r.status, r.body)
}

/// An agreement both parties confirm, in the order given.
async fn agree(app: &TestApp, case: &str) -> String {
    let agreement = add_record(
        app,
        case,
        "agreement",
        json!({"terms": "周建国于2027年1月15日前拆除越界搭建的雨棚，并赔偿李桂英修缮费用", "amount": "3500",
               "perform_by": "2027-01-15"}),
    )
    .await;
    for step in [
        json!({"action": "respondent_confirms", "fields": {"respondent_signature": "paper"}}),
        json!({"action": "applicant_completes", "fields": {"applicant_signature": "on_screen"}}),
    ] {
        let (status, body) = record_act(app, case, &agreement, step).await;
        assert_eq!(status, StatusCode::OK, "{body:?}");
    }
    agreement
}

crate::db_test!(a_dispute_is_mediated_to_an_agreement_both_parties_confirm);
async fn a_dispute_is_mediated_to_an_agreement_both_parties_confirm(backend: Backend) {
    let key = signer(ORIGIN, false);
    let config = ServerConfig {
        log: LogConfig::new(key.clone()),
        ..ServerConfig::default()
    };
    let app = spawn_app_with(backend, config).await;

    // The hotline's request turns out to be a dispute between neighbours; the
    // clerk registers it with the request's receipt code, and both read the link.
    let request = app.create_request("邻居搭建雨棚挡光漏水").await;
    let receipt = app
        .db
        .case_unscoped(&request)
        .await
        .expect("case")
        .expect("exists")
        .receipt_code;
    let case = register(
        &app,
        "邻居雨棚越界纠纷",
        json!({"source": "request", "origin": receipt, "amount": "5000",
               "claim": "拆除越界雨棚并赔偿修缮费用"}),
    )
    .await;
    let links = app.get(&format!("/api/v1/cases/{case}/links"), CLERK).await;
    assert_eq!(links.status, StatusCode::OK, "{:?}", links.body);
    assert_eq!(links.body["links"][0]["other"]["id"], request.as_str());
    // A conversion: the dispute reads "converted from", the request "converted to".
    assert_eq!(links.body["links"][0]["kind"], "conversion");
    assert_eq!(links.body["links"][0]["end"], "target");
    let from_request = app
        .get(&format!("/api/v1/cases/{request}/links"), "d1.operator")
        .await;
    assert_eq!(
        from_request.body["links"][0]["end"], "source",
        "{:?}",
        from_request.body
    );

    // The dispatcher closes the request as converted (转调解): only now that
    // the dispute names it as its origin; a request no case came from stays.
    let other = app.create_request("楼上漏水").await;
    let convert = json!({"action": "convert", "reason": "邻里纠纷，转街道人民调解委员会"});
    let r = app.act(&other, "d1.dispatcher", convert.clone()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("conversion"),
        "{:?}",
        r.body
    );
    let r = app.act(&request, "d1.dispatcher", convert).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let converted = app
        .get(&format!("/api/v1/cases/{request}"), "d1.dispatcher")
        .await;
    assert_eq!(converted.body["state"], "converted", "{:?}", converted.body);

    // Only a mediator of the committee may be named, and the work follows them.
    ok(&app, &case, CLERK, json!({"action": "accept"})).await;
    let candidates = app
        .get(&format!("/api/v1/cases/{case}/candidates"), CLERK)
        .await;
    let mut names: Vec<&str> = candidates.body["fields"]["mediator"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["username"].as_str())
        .collect();
    names.sort();
    // The committee's mediator and the pool's invited mediators, not D2's.
    assert_eq!(
        names,
        vec!["city.invited_mediator", "d1.invited_mediator", MEDIATOR],
        "{:?}",
        candidates.body
    );
    let outsider = user_id(&app, "d2.mediator").await;
    let r = app
        .act(
            &case,
            CLERK,
            json!({"action": "assign_mediator", "fields": {"mediator": outsider}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "mediator");
    let mediator = user_id(&app, MEDIATOR).await;
    ok(
        &app,
        &case,
        CLERK,
        json!({"action": "assign_mediator", "fields": {"mediator": mediator}}),
    )
    .await;
    let mine = app.get("/api/v1/cases?assignee=me", MEDIATOR).await;
    assert!(
        mine.body["cases"]
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c["id"] == case.as_str())),
        "{:?}",
        mine.body
    );
    // The 30 days of mediation run from here.
    let running = clock(&app, &case, "mediation").await.expect("clock");
    assert_eq!(running.status, "active");
    assert_eq!(running.rule, "30 calendar_days");

    // Two sessions: the first hears both sides, the second settles.
    for (on, minutes) in [
        (
            "2026-12-09",
            "双方陈述，申请人出示照片，被申请人承认雨棚越界约40厘米",
        ),
        ("2026-12-16", "现场查看后双方同意拆除并赔偿修缮费3500元"),
    ] {
        let session = add_record(
            &app,
            &case,
            "session",
            json!({"on": on, "time": "09:30", "place": "东湖街道人民调解室"}),
        )
        .await;
        let (status, body) = record_act(
            &app,
            &case,
            &session,
            json!({"action": "hold", "fields": {"attendance": "双方到场", "minutes": minutes}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body:?}");
        assert_eq!(body["state"], "held");
    }

    // An agreement confirmed by one party only is not in effect, and the
    // dispute cannot be recorded as agreed on it.
    let agreement = add_record(
        &app,
        &case,
        "agreement",
        json!({"terms": "周建国拆除越界雨棚并赔偿修缮费3500元", "amount": "3500"}),
    )
    .await;
    let (status, body) = record_act(
        &app,
        &case,
        &agreement,
        json!({"action": "applicant_confirms", "fields": {"applicant_signature": "on_screen"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert_eq!(body["state"], "applicant_confirmed");
    let r = app
        .act(&case, MEDIATOR, json!({"action": "reach_agreement"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.body["code"], "precondition_failed");
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("agreement") && message.contains("effective"),
        "{message}"
    );
    // The same party cannot confirm twice; the other one completes it.
    let (status, _) = record_act(
        &app,
        &case,
        &agreement,
        json!({"action": "applicant_completes", "fields": {"applicant_signature": "on_screen"}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = record_act(
        &app,
        &case,
        &agreement,
        json!({"action": "respondent_completes", "fields": {"respondent_signature": "paper"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert_eq!(body["state"], "effective");
    ok(&app, &case, MEDIATOR, json!({"action": "reach_agreement"})).await;
    assert_eq!(
        clock(&app, &case, "mediation").await.map(|c| c.status),
        Some("met".to_string())
    );
    let window = clock(&app, &case, "confirmation").await.expect("clock");
    assert_eq!(window.status, "active");

    // The 调解协议书 printed from the pack's template: the parties, the
    // terms, the committee; its SHA-256 is in the dispute's log.
    let documents = format!("/api/v1/cases/{case}/documents");
    let reads_before = app.db.personal_reads_count(&case).await.expect("reads");
    let r = app
        .post(
            &documents,
            MEDIATOR,
            json!({"template": "agreement", "record": agreement}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let html = r.body["html"].as_str().unwrap_or_default().to_string();
    for text in [
        "人民调解协议书",
        "申请人：李桂英",
        "430102196505123021",
        "被申请人：周建国",
        "周建国拆除越界雨棚并赔偿修缮费3500元",
        "人民币 3500.00 元",
        "size: A4",
    ] {
        assert!(html.contains(text), "the agreement lacks {text}: {html}");
    }
    assert_eq!(
        app.db.personal_reads_count(&case).await.expect("reads"),
        reads_before + 1,
        "printing the parties is a recorded read of their data"
    );
    let sha = r.body["sha256"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        sha,
        sha256_hex(html.as_bytes()),
        "the hash is of exactly what was printed"
    );
    let issued = app.db.timeline(&case).await.expect("timeline");
    assert!(
        issued
            .iter()
            .any(|e| e.action == "document.issue" && e.changes.to_string().contains(&sha)),
        "the log records the issued document"
    );
    // The clerk may not issue it; a session notice is the clerk's, for a session.
    let r = app
        .post(
            &documents,
            CLERK,
            json!({"template": "agreement", "record": agreement}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let r = app
        .post(&documents, MEDIATOR, json!({"template": "agreement"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "record");
    let r = app
        .post(
            &documents,
            MEDIATOR,
            json!({"template": "session_notice", "record": agreement}),
        )
        .await;
    assert_eq!(
        r.body["field"], "record",
        "an agreement is not a session: {:?}",
        r.body
    );
    let r = app
        .post(&documents, MEDIATOR, json!({"template": "verdict"}))
        .await;
    assert_eq!(r.body["field"], "template");

    // 司法确认 within the 30 days, then the follow-up of performance.
    let r = app
        .act(&case, MEDIATOR, json!({"action": "apply_confirmation"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "confirmation_court");
    ok(
        &app,
        &case,
        MEDIATOR,
        json!({"action": "apply_confirmation", "fields": {"confirmation_court": "东湖区人民法院"}}),
    )
    .await;
    ok(
        &app,
        &case,
        MEDIATOR,
        json!({"action": "follow_up", "fields": {"performance": "performed",
               "follow_up_note": "雨棚已拆除，修缮费已付清"}}),
    )
    .await;
    let done = app.get(&format!("/api/v1/cases/{case}"), CLERK).await;
    assert_eq!(done.body["state"], "closed", "{:?}", done.body);

    // The whole story is in the dispute's log, and the log verifies.
    let timeline = app
        .get(&format!("/api/v1/cases/{case}/timeline"), CLERK)
        .await;
    let actions: Vec<&str> = timeline.body["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for step in [
        "create",
        "accept",
        "assign_mediator",
        "reach_agreement",
        "apply_confirmation",
        "follow_up",
    ] {
        assert!(actions.contains(&step), "{step}: {actions:?}");
    }
    verify_log(&app.db, &[verifier(&key)])
        .await
        .expect("the log verifies");
}

crate::db_test!(a_failed_mediation_goes_to_court_and_a_late_confirmation_is_refused);
async fn a_failed_mediation_goes_to_court_and_a_late_confirmation_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;

    // No agreement: the reason is required, then the parties are referred on.
    let failed = register(&app, "劳务费结算纠纷", json!({"dispute_kind": "labour"})).await;
    start_mediation(&app, &failed).await;
    let r = app
        .act(&failed, MEDIATOR, json!({"action": "record_no_agreement"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "no_agreement_reason");
    ok(
        &app,
        &failed,
        MEDIATOR,
        json!({"action": "record_no_agreement",
               "fields": {"no_agreement_reason": "双方对欠款数额分歧过大，被申请人拒绝再调"}}),
    )
    .await;
    assert_eq!(
        clock(&app, &failed, "mediation").await.map(|c| c.status),
        Some("met".to_string())
    );
    ok(
        &app,
        &failed,
        MEDIATOR,
        json!({"action": "refer", "fields": {"referred_to": "court",
               "referral_note": "告知申请人可向东湖区人民法院起诉，调解笔录随卷移送"}}),
    )
    .await;
    let done = app.get(&format!("/api/v1/cases/{failed}"), CLERK).await;
    assert_eq!(done.body["state"], "referred", "{:?}", done.body);

    // An agreement that took effect 31 days ago: too late for 司法确认.
    let late = register(&app, "相邻排水纠纷", json!({})).await;
    start_mediation(&app, &late).await;
    agree(&app, &late).await;
    ok(&app, &late, MEDIATOR, json!({"action": "reach_agreement"})).await;
    let window = clock(&app, &late, "confirmation").await.expect("clock");
    let day = 24 * 3600 * 1_000_000_i64;
    // The clock started 31 days before now (the database stands in for time).
    let (started, due) = (
        window.started_at - 31 * day,
        window.due_at.expect("due") - 31 * day,
    );
    app.exec(&format!(
        "UPDATE deadlines SET started_at = {started}, due_at = {due} WHERE id = '{}'",
        window.id
    ))
    .await;
    let r = app
        .act(
            &late,
            MEDIATOR,
            json!({"action": "apply_confirmation", "fields": {"confirmation_court": "东湖区人民法院"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.body["code"], "precondition_failed");
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(message.contains("ran out"), "{message}");
    let still = app.get(&format!("/api/v1/cases/{late}"), CLERK).await;
    assert_eq!(still.body["state"], "agreed");
    // Performance can still be followed up.
    ok(
        &app,
        &late,
        MEDIATOR,
        json!({"action": "follow_up", "fields": {"performance": "partly"}}),
    )
    .await;

    // The committee's figures, as the mediation pack declares them.
    let r = app.get("/api/v1/indicators?pack=mediation", CLERK).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let total = &r.body["total"];
    let ratio =
        |n: u64, d: u64| json!({"numerator": n, "denominator": d, "ratio": n as f64 / d as f64});
    assert_eq!(total["received"], 2);
    assert_eq!(total["success"], ratio(1, 2), "one agreed, one failed");
    assert_eq!(
        total["performed"],
        ratio(0, 1),
        "partly performed is not performed"
    );
    assert_eq!(total["referred_to_court"], ratio(1, 2));
    assert_eq!(
        total["within_clock"],
        ratio(2, 2),
        "both concluded inside the 30 days"
    );
    assert_eq!(
        total["confirmation_on_time"],
        ratio(0, 1),
        "the late one ran out"
    );
    assert_eq!(total["time_to_agreement"]["count"], 1);
    // By mediator and by kind of dispute: fields the pack declares.
    let r = app
        .get(
            "/api/v1/indicators?pack=mediation&group=field&field=mediator",
            CLERK,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mediator = user_id(&app, MEDIATOR).await;
    assert_eq!(
        r.body["groups"][0]["key"],
        mediator.as_str(),
        "{:?}",
        r.body
    );
    assert_ne!(
        r.body["groups"][0]["name"]["zh"],
        mediator.as_str(),
        "a mediator's group is named by their name"
    );
    assert_eq!(r.body["groups"][0]["figures"]["received"], 2);
    let r = app
        .get(
            "/api/v1/indicators?pack=mediation&group=field&field=dispute_kind",
            CLERK,
        )
        .await;
    let labour = r.body["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["key"] == "labour")
        .cloned()
        .unwrap_or_default();
    assert_eq!(labour["figures"]["received"], 1, "{:?}", r.body);
    assert_ne!(
        labour["name"]["zh"], "labour",
        "the option's name, not its value"
    );
    // A field that is not the pack's, or a pack without figures, is refused.
    let r = app
        .get(
            "/api/v1/indicators?pack=mediation&group=field&field=contact_phone",
            CLERK,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["field"], "field");
    let r = app.get("/api/v1/indicators?pack=astrology", CLERK).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["field"], "pack");
}

async fn declare(app: &TestApp, user: &str, relation: &str, identifier: &str) -> String {
    let r = app
        .post(
            "/api/v1/me/interests",
            user,
            json!({"relation": relation, "identifier": identifier, "note": "申报"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_str().expect("id").to_string()
}

async fn withdraw(app: &TestApp, user: &str, id: &str) -> StatusCode {
    app.post(
        &format!("/api/v1/me/interests/{id}/remove"),
        user,
        json!({}),
    )
    .await
    .status
}

async fn conflict_shown(app: &TestApp, case: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/cases/{case}/candidates"), CLERK)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["fields"]["mediator"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["username"] == MEDIATOR))
        .map(|c| c["conflict"].clone())
        .unwrap_or(Value::Null)
}

crate::db_test!(a_party_added_after_assignment_makes_a_related_mediator_step_aside);
async fn a_party_added_after_assignment_makes_a_related_mediator_step_aside(backend: Backend) {
    let app = spawn_app(backend).await;
    let case = register(&app, "相邻通行纠纷", json!({})).await;
    ok(&app, &case, CLERK, json!({"action": "accept"})).await;
    let mediator = user_id(&app, MEDIATOR).await;
    ok(
        &app,
        &case,
        CLERK,
        json!({"action": "assign_mediator", "fields": {"mediator": mediator}}),
    )
    .await;
    // The mediator declared his brother-in-law's phone long ago; the clerk
    // now records him as a third party of the dispute.
    declare(&app, MEDIATOR, "related", "13600000077").await;
    let r = app
        .post(
            &format!("/api/v1/cases/{case}/parties"),
            CLERK,
            json!({"role": "third_party", "kind": "person",
                   "fields": {"name": "第三人", "phone": "136 0000 0077"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["conflicts"][0]["field"], "mediator", "{:?}", r.body);
    assert_eq!(
        r.body["conflicts"][0]["conflict"], "related",
        "{:?}",
        r.body
    );
    // The log entry of the addition keeps what it revealed.
    let entries = app.db.timeline(&case).await.expect("timeline");
    let added = entries.last().expect("the party's entry");
    assert_eq!(
        added.changes["conflict_found"]["after"][0]["user_id"], mediator,
        "{}",
        added.changes
    );

    // He steps aside: neither an action nor a record of his is taken.
    let r = app
        .act(
            &case,
            MEDIATOR,
            json!({"action": "record_no_agreement", "fields": {"no_agreement_reason": "双方分歧较大"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "mediator", "{:?}", r.body);
    let r = app
        .post(
            &format!("/api/v1/cases/{case}/records"),
            MEDIATOR,
            json!({"kind": "session", "fields": {"on": "2027-01-06", "time": "09:30", "place": "社区调解室"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    // The clerk's case page says who must step aside.
    let (client, _) = crate::pages::session(&app, CLERK).await;
    let page = |client: reqwest::Client| {
        let url = app.url(&format!("/cases/{case}"));
        async move {
            client
                .get(url)
                .send()
                .await
                .expect("page")
                .text()
                .await
                .expect("html")
        }
    };
    assert!(page(client.clone()).await.contains("应当回避"));

    // Another mediator takes the dispute over; the warning goes with him.
    let other = user_id(&app, "city.invited_mediator").await;
    ok(
        &app,
        &case,
        CLERK,
        json!({"action": "change_mediator", "reason": "原调解员与第三人有亲属关系，依法回避",
               "fields": {"mediator": other}}),
    )
    .await;
    assert!(!page(client).await.contains("应当回避"));
    ok(
        &app,
        &case,
        "city.invited_mediator",
        json!({"action": "record_no_agreement", "fields": {"no_agreement_reason": "双方分歧较大"}}),
    )
    .await;
    app.stop().await;
}

crate::db_test!(a_mediator_who_is_a_party_or_related_to_one_cannot_take_the_dispute);
async fn a_mediator_who_is_a_party_or_related_to_one_cannot_take_the_dispute(backend: Backend) {
    let app = spawn_app(backend).await;
    let case = register(&app, "宅基地边界纠纷", json!({"dispute_kind": "property"})).await;
    ok(&app, &case, CLERK, json!({"action": "accept"})).await;
    let mediator = user_id(&app, MEDIATOR).await;
    let assign = json!({"action": "assign_mediator", "fields": {"mediator": mediator}});

    // The mediator's own phone, written another way, is the respondent's.
    let own = declare(&app, MEDIATOR, "own", "+86 139-0731-0002").await;
    let mine = app.get("/api/v1/me/interests", MEDIATOR).await;
    assert_eq!(
        mine.body["interests"][0]["hint"], "…0002",
        "{:?}",
        mine.body
    );
    assert!(!mine.body.to_string().contains("13907310002"));
    assert_eq!(conflict_shown(&app, &case).await, "party");
    let r = app.act(&case, CLERK, assign.clone()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "mediator");
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("is a party")),
        "{:?}",
        r.body
    );
    // Only its owner withdraws a declaration.
    assert_eq!(withdraw(&app, CLERK, &own).await, StatusCode::NOT_FOUND);
    assert_eq!(withdraw(&app, MEDIATOR, &own).await, StatusCode::OK);

    // A relative: the applicant's ID number, declared as related.
    let related = declare(&app, MEDIATOR, "related", "430102 19650512 3021").await;
    assert_eq!(conflict_shown(&app, &case).await, "related");
    let r = app.act(&case, CLERK, assign.clone()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "mediator");
    assert_eq!(withdraw(&app, MEDIATOR, &related).await, StatusCode::OK);

    // The mediator is a party, with the same applicant, in another open
    // dispute: a warning, which a reason overrides, on the record.
    let other = register(&app, "共用排水沟纠纷", json!({})).await;
    let r = app
        .post(
            &format!("/api/v1/cases/{other}/parties"),
            CLERK,
            json!({"role": "third_party", "kind": "person",
                   "fields": {"name": "调解员本人", "phone": "13800000009"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    declare(&app, MEDIATOR, "own", "13800000009").await;
    assert_eq!(conflict_shown(&app, &case).await, "party_elsewhere");
    let r = app.act(&case, CLERK, assign.clone()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "reason");
    let mut with_reason = assign.clone();
    with_reason["reason"] = json!("本调委会仅此一名调解员，双方当事人同意");
    ok(&app, &case, CLERK, with_reason).await;
    let entries = app.db.timeline(&case).await.expect("timeline");
    let assigned = entries
        .iter()
        .find(|e| e.action == "assign_mediator")
        .expect("assigned");
    assert_eq!(
        assigned.changes["conflict_warning"]["after"]["conflict"], "party_elsewhere",
        "{}",
        assigned.changes
    );

    // Bad declarations are refused by field.
    for (body, field) in [
        (
            json!({"relation": "friend", "identifier": "13800000001"}),
            "relation",
        ),
        (
            json!({"relation": "own", "identifier": "12-3"}),
            "identifier",
        ),
        (
            json!({"relation": "own", "identifier": "13800000009"}),
            "identifier",
        ),
    ] {
        let r = app
            .post("/api/v1/me/interests", MEDIATOR, body.clone())
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            r.body
        );
        assert_eq!(r.body["field"], field, "{body}");
    }
}

crate::db_test!(a_clerk_registers_a_dispute_on_the_form_the_pack_declares);
async fn a_clerk_registers_a_dispute_on_the_form_the_pack_declares(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, csrf) = crate::pages::session(&app, CLERK).await;
    // The clerk may create one type: its form is shown at once, from the pack.
    let page = client.get(app.url("/new")).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    for needle in [
        "nav-register",
        "name=\"f.title\"",
        "name=\"f.dispute_kind\"",
        "婚姻家庭",
        "name=\"f.amount\"",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    assert!(
        !html.contains("name=\"f.mediator\""),
        "assigned later, by an action"
    );
    let form_id = "register-test-form";
    let post = |fields: Vec<(&'static str, &'static str)>| {
        let mut form = vec![
            ("csrf_token", csrf.clone()),
            ("form_id", form_id.to_string()),
            ("pack", "mediation".to_string()),
            ("case_type", "dispute".to_string()),
        ];
        form.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
        client.post(app.url("/new")).form(&form).send()
    };
    // Missing what the pack requires: refused, and what was typed stays.
    let r = post(vec![("f.title", "楼上漏水纠纷"), ("f.source", "walk_in")])
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("html");
    assert!(
        html.contains("register-error") && html.contains("dispute_kind"),
        "{html}"
    );
    assert!(html.contains("value=\"楼上漏水纠纷\""));
    // Complete, and sent twice: one dispute.
    let full = vec![
        ("f.title", "楼上漏水纠纷"),
        ("f.source", "walk_in"),
        ("f.dispute_kind", "neighbours"),
        ("f.amount", "1200.5"),
    ];
    let first = post(full.clone()).await.expect("post");
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let again = post(full).await.expect("post");
    assert_eq!(
        crate::pages::location(&first),
        crate::pages::location(&again)
    );
    let case = crate::pages::location(&first)
        .trim_start_matches("/cases/")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let made = app.get(&format!("/api/v1/cases/{case}"), CLERK).await;
    assert_eq!(made.body["pack"], "mediation", "{:?}", made.body);
    assert_eq!(made.body["fields"]["amount"], "1200.50");
    // A role that registers nothing here is not offered the page.
    let (grid, _) = crate::pages::session(&app, "d1.supervisor").await;
    let r = grid.get(app.url("/new")).send().await.expect("page");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

/// What a public visitor's browser gets back from a lookup form post.
async fn public_post(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let mut all = form.to_vec();
    all.push(("form_token", crate::pages::FORM_TOKEN));
    let r = crate::pages::visitor()
        .post(app.url(path))
        .form(&all)
        .send()
        .await
        .expect("post");
    (r.status(), r.text().await.expect("text"))
}

async fn agreement_state(app: &TestApp, case: &str, id: &str) -> Option<String> {
    app.db
        .records_of(case)
        .await
        .expect("records")
        .into_iter()
        .find(|r| r.id == id)
        .and_then(|r| r.state)
}

crate::db_test!(each_party_sees_the_next_session_and_confirms_the_agreement_online);
async fn each_party_sees_the_next_session_and_confirms_the_agreement_online(backend: Backend) {
    let app = spawn_app(backend).await;
    let case = register(&app, "雨棚越界纠纷", json!({})).await;
    start_mediation(&app, &case).await;
    add_record(
        &app,
        &case,
        "session",
        json!({"on": "2027-01-08", "time": "14:30", "place": "东塘社区调解室"}),
    )
    .await;
    let agreement = add_record(
        &app,
        &case,
        "agreement",
        json!({"terms": "周建国于2027年1月15日前拆除越界搭建的雨棚", "amount": "3500"}),
    )
    .await;
    let code = app
        .db
        .case_unscoped(&case)
        .await
        .expect("case")
        .expect("exists")
        .receipt_code;
    let lookup = |digits: &'static str| {
        let code = code.clone();
        let app = &app;
        async move {
            public_post(
                app,
                "/lookup",
                &[("receipt_code", code.as_str()), ("phone_last4", digits)],
            )
            .await
        }
    };

    // Someone with neither party's digits learns nothing.
    let (status, _) = lookup("9999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The applicant, by the last four digits of her own phone, sees who she
    // is in the case, the session's date and place, and the agreement with
    // only her own confirmation to give.
    let (status, html) = lookup("0001").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("您是本案的申请人"), "{html}");
    assert!(
        html.contains("东塘社区调解室") && html.contains("14:30"),
        "{html}"
    );
    assert!(html.contains("拆除越界搭建的雨棚"), "{html}");
    assert!(
        html.contains("id=\"party-applicant_confirms_online\""),
        "{html}"
    );
    assert!(!html.contains("party-respondent_confirms_online"), "{html}");
    // No party's phone or ID number is on the page.
    assert!(
        !html.contains("13907310002") && !html.contains("430102"),
        "{html}"
    );

    // She cannot take the respondent's action by posting it.
    let act = |digits: &'static str, action: &'static str| {
        let code = code.clone();
        let agreement = agreement.clone();
        let app = &app;
        async move {
            public_post(
                app,
                "/lookup/record",
                &[
                    ("receipt_code", code.as_str()),
                    ("phone_last4", digits),
                    ("record_id", agreement.as_str()),
                    ("action", action),
                ],
            )
            .await
        }
    };
    let (_, html) = act("0001", "respondent_confirms_online").await;
    assert!(html.contains("此项目前无法操作"), "{html}");
    assert_eq!(
        agreement_state(&app, &case, &agreement).await.as_deref(),
        Some("drafted")
    );
    // Wrong digits: refused before anything is looked at.
    let (status, _) = act("1234", "applicant_confirms_online").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // One party's confirmation does not make the agreement effective.
    let (_, html) = act("0001", "applicant_confirms_online").await;
    assert!(html.contains("已记录您的确认"), "{html}");
    assert_eq!(
        agreement_state(&app, &case, &agreement).await.as_deref(),
        Some("applicant_confirmed")
    );
    let (_, html) = lookup("0001").await;
    assert!(
        !html.contains("party-applicant"),
        "nothing more for her to do: {html}"
    );

    // The respondent confirms with his own phone: the agreement takes effect,
    // recorded as confirmed online, and the log names which party it was.
    let (_, html) = lookup("0002").await;
    assert!(html.contains("您是本案的被申请人"), "{html}");
    let (_, html) = act("0002", "respondent_completes_online").await;
    assert!(html.contains("已记录您的确认"), "{html}");
    let records = app.db.records_of(&case).await.expect("records");
    let effective = records
        .iter()
        .find(|r| r.id == agreement)
        .expect("agreement");
    assert_eq!(effective.state.as_deref(), Some("effective"));
    assert_eq!(effective.fields["applicant_signature"], "online");
    assert_eq!(effective.fields["respondent_signature"], "online");
    let parties = app.db.parties_of(&case).await.expect("parties");
    let respondent = parties
        .iter()
        .find(|p| p.role == "respondent")
        .expect("respondent");
    let last = app.db.timeline(&case).await.expect("timeline");
    let entry = last.last().expect("an entry");
    assert_eq!(entry.action, "record.act");
    assert_eq!(
        entry.changes["record"]["after"]["party"],
        respondent.id.as_str()
    );
    app.stop().await;
}

crate::db_test!(the_clerk_adds_a_party_on_the_case_page_and_a_viewer_cannot);
async fn the_clerk_adds_a_party_on_the_case_page_and_a_viewer_cannot(backend: Backend) {
    let app = spawn_app(backend).await;
    let case = register(&app, "物业费纠纷", json!({})).await;
    let (clerk, csrf) = crate::pages::session(&app, CLERK).await;
    let page = clerk
        .get(app.url(&format!("/cases/{case}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("id=\"party-add\""),
        "the clerk is offered the form"
    );
    let r = clerk
        .post(app.url(&format!("/cases/{case}/parties")))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("role", "third_party"),
            ("kind", "organisation"),
            ("f.name", "东塘物业服务有限公司"),
            ("f.phone", "073188880003"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let parties = app.db.parties_of(&case).await.expect("parties");
    let added = parties
        .iter()
        .find(|p| p.role == "third_party")
        .expect("the third party");
    assert_eq!(added.fields["name"], "东塘物业服务有限公司");
    let page = clerk
        .get(app.url(&format!("/cases/{case}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("第三人") && !page.contains("073188880003"),
        "masked on the page"
    );
    // A name is required: refused, nothing added.
    let r = clerk
        .post(app.url(&format!("/cases/{case}/parties")))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("role", "witness"),
            ("kind", "person"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.db.parties_of(&case).await.expect("parties").len(), 3);

    // A supervisor sees the case but does not record its parties.
    let r = app
        .post(
            &format!("/api/v1/cases/{case}/parties"),
            "d1.supervisor",
            json!({"role": "witness", "kind": "person", "fields": {"name": "王五"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let seen = app
        .get(&format!("/api/v1/cases/{case}/parties"), "d1.supervisor")
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{:?}", seen.body);
    assert_eq!(app.db.parties_of(&case).await.expect("parties").len(), 3);
    app.stop().await;
}

crate::db_test!(a_resident_walks_the_guide_to_plain_advice_before_filing);
async fn a_resident_walks_the_guide_to_plain_advice_before_filing(backend: Backend) {
    let app = spawn_app(backend).await;
    let public = crate::pages::anonymous();
    let get = |path: String| {
        let public = public.clone();
        let url = app.url(&path);
        async move {
            let r = public.get(url).send().await.expect("get");
            (r.status(), r.text().await.expect("text"))
        }
    };
    let (status, html) = get("/guides".into()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("href=\"/guides/mediation/disputes\""),
        "{html}"
    );

    // Neighbours (first answer), not happening now (second), talked without
    // agreeing (first): the advice on mediation, free, with the 30 days for
    // judicial confirmation, and the way to file.
    let (status, html) = get("/guides/mediation/disputes".into()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("您遇到的是哪一类纠纷"), "{html}");
    assert!(
        html.contains("href=\"/guides/mediation/disputes?path=0\""),
        "{html}"
    );
    let (_, html) = get("/guides/mediation/disputes?path=0,1,0".into()).await;
    assert!(html.contains("data-step=\"mediate\""), "{html}");
    assert!(
        html.contains("不收取任何费用") && html.contains("三十日内"),
        "{html}"
    );
    assert!(html.contains("id=\"guide-file\""), "{html}");
    // The answers so far, each with a way back to change it.
    assert!(
        html.contains("id=\"guide-path\"") && html.contains("沟通过，没谈拢"),
        "{html}"
    );
    assert!(
        html.contains("href=\"/guides/mediation/disputes?path=0,1\""),
        "{html}"
    );

    // Domestic violence: safety first, no offer of mediation.
    let (_, html) = get("/guides/mediation/disputes?path=4,0".into()).await;
    assert!(
        html.contains("人身安全保护令") && !html.contains("id=\"guide-file\""),
        "{html}"
    );
    // In English too.
    let r = public
        .get(app.url("/guides/mediation/disputes?path=2,0"))
        .header("cookie", "gz_lang=en")
        .send()
        .await
        .expect("get");
    let html = r.text().await.expect("text");
    assert!(
        html.contains("labour dispute arbitration commission"),
        "{html}"
    );

    // A path that is not one through the guide, or an unknown guide: not found.
    for bad in [
        "/guides/mediation/disputes?path=9",
        "/guides/mediation/disputes?path=0,1,0,0",
        "/guides/mediation/disputes?path=x",
        "/guides/mediation/nothing",
    ] {
        let (status, _) = get(bad.into()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
    }
    app.stop().await;
}

crate::db_test!(an_admin_records_mediators_expertise_and_those_who_know_the_kind_come_first);
async fn an_admin_records_mediators_expertise_and_those_who_know_the_kind_come_first(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    // A second mediator on the committee, who knows family matters.
    let second = app
        .db
        .create_user("d1.mediator.family", "家事调解员", None)
        .await
        .expect("user");
    let d1 = app.unit("D1");
    let role = gongzhi_domain::role::Role::intern("mediator");
    app.db
        .grant_role(&second.id, role, &d1)
        .await
        .expect("grant");
    let first = user_id(&app, MEDIATOR).await;

    let (admin, csrf) = crate::pages::session(&app, "d1.admin").await;
    let set = |user: String, values: Vec<&'static str>| {
        let admin = admin.clone();
        let csrf = csrf.clone();
        let url = app.url(&format!(
            "/admin/users/{user}/expertise/mediation/dispute_kind"
        ));
        async move {
            let mut form = vec![("csrf_token", csrf)];
            form.extend(values.into_iter().map(|v| ("value", v.to_string())));
            admin
                .post(url)
                .form(&form)
                .send()
                .await
                .expect("post")
                .status()
        }
    };
    // The user page offers the mediator's specialities.
    let page = admin
        .get(app.url(&format!("/admin/users/{first}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("擅长领域") && page.contains("id=\"expertise-neighbours\""),
        "{page}"
    );
    assert_eq!(
        set(first.clone(), vec!["family"]).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        set(first.clone(), vec!["neighbours", "property"]).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        set(second.id.clone(), vec!["family"]).await,
        StatusCode::SEE_OTHER
    );
    // Not an option, or someone who is no mediator: refused, nothing changed.
    assert_eq!(
        set(first.clone(), vec!["astrology"]).await,
        StatusCode::NOT_FOUND
    );
    let operator = user_id(&app, "d1.operator").await;
    assert_eq!(set(operator, vec!["family"]).await, StatusCode::NOT_FOUND);
    let known = app
        .db
        .expertise_of(std::slice::from_ref(&first), "mediation", "dispute_kind")
        .await
        .expect("expertise");
    assert_eq!(known[&first], ["neighbours", "property"]);
    // Every change is an admin log entry, with before and after.
    let log = app.db.log_entries(0, 100_000).await.expect("log");
    let changes: Vec<_> = log
        .iter()
        .map(|(e, _)| e)
        .filter(|e| e.action == "admin.user.expertise")
        .collect();
    assert_eq!(changes.len(), 3);
    assert!(
        changes[1].changes.contains("\"before\":[\"family\"]"),
        "{}",
        changes[1].changes
    );

    // A family dispute: the family mediator is offered first, with what
    // each knows and how many open cases each holds.
    let case = register(&app, "赡养费纠纷", json!({"dispute_kind": "family"})).await;
    ok(&app, &case, CLERK, json!({"action": "accept"})).await;
    let r = app
        .get(&format!("/api/v1/cases/{case}/candidates"), CLERK)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let people = r.body["fields"]["mediator"]
        .as_array()
        .expect("candidates")
        .clone();
    assert_eq!(people[0]["user_id"], second.id.as_str(), "{people:?}");
    assert_eq!(people[0]["knows_this"], true);
    let other = people
        .iter()
        .find(|p| p["user_id"] == first.as_str())
        .expect("the first mediator is offered too");
    assert_eq!(other["expertise"], json!(["neighbours", "property"]));
    assert_eq!(other["knows_this"], false);
    let (clerk, _) = crate::pages::session(&app, CLERK).await;
    let page = clerk
        .get(app.url(&format!("/cases/{case}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("擅长：婚姻家庭") && page.contains("★ 熟悉此类"),
        "{page}"
    );
    assert!(page.contains("擅长：邻里纠纷、房屋物业"), "{page}");
    app.stop().await;
}

/// The record's limit of `state`, the latest one.
async fn record_deadline(app: &TestApp, case: &str, record: &str) -> DeadlineRecord {
    app.db
        .deadlines_of(case)
        .await
        .expect("deadlines")
        .into_iter()
        .rev()
        .find(|d| d.record_id.as_deref() == Some(record))
        .expect("the record has a deadline")
}

/// The local (UTC+8) midnight that ends `day`.
fn end_of(day: &str) -> i64 {
    let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").expect("date");
    let next = date.succ_opt().expect("next day");
    next.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_micros()
        - 8 * 3_600_000_000
}

crate::db_test!(sessions_and_agreements_keep_their_own_time_limits);
async fn sessions_and_agreements_keep_their_own_time_limits(backend: Backend) {
    let key = signer(ORIGIN, false);
    let config = ServerConfig {
        log: LogConfig::new(key.clone()),
        ..ServerConfig::default()
    };
    let app = spawn_app_with(backend, config).await;
    let case = register(&app, "楼道堆物纠纷", json!({})).await;
    start_mediation(&app, &case).await;

    // A session's minutes are due by the working day after its date, counted
    // from the end of that day; recording them meets the limit.
    let held = add_record(
        &app,
        &case,
        "session",
        json!({"on": "2027-03-10", "time": "09:30", "place": "社区调解室"}),
    )
    .await;
    let limit = record_deadline(&app, &case, &held).await;
    assert_eq!(limit.state, "scheduled");
    assert_eq!(limit.status, "active");
    assert_eq!(limit.started_at, end_of("2027-03-10"));
    assert!(limit.due_at.is_some_and(|d| d > end_of("2027-03-10")));
    let (status, body) = record_act(
        &app,
        &case,
        &held,
        json!({"action": "hold", "fields": {"attendance": "双方到场", "minutes": "双方陈述"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert_eq!(record_deadline(&app, &case, &held).await.status, "met");

    // A session recorded after its date has its day from now on; one never
    // written up fires, logged against the session while the dispute stays
    // where it is.
    let forgotten = add_record(
        &app,
        &case,
        "session",
        json!({"on": "2026-01-05", "place": "社区调解室"}),
    )
    .await;
    let late = record_deadline(&app, &case, &forgotten).await;
    assert!(late.started_at > end_of("2026-01-05"));
    // (The server's own sweeper may fire it first.)
    app.db
        .fire_due_deadlines(late.due_at.expect("due"), 100)
        .await
        .expect("fire");
    assert_eq!(
        record_deadline(&app, &case, &forgotten).await.status,
        "expired"
    );
    let timeline = app.db.timeline(&case).await.expect("timeline");
    let fired = timeline
        .iter()
        .find(|e| e.action == "deadline_expired")
        .expect("the expiry is logged");
    assert_eq!(fired.changes["record"]["after"], forgotten.as_str());
    assert_eq!(fired.from_state.as_deref(), Some("mediating"));
    let dispute = app.get(&format!("/api/v1/cases/{case}"), CLERK).await;
    assert_eq!(dispute.body["state"], "mediating");

    // The case page names the limit by the record's kind and state.
    let (client, _) = crate::pages::session(&app, MEDIATOR).await;
    let page = client
        .get(app.url(&format!("/cases/{case}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("调解会 · 已安排"),
        "the case page lists the session's limit"
    );

    // An agreement in force is followed up within 10 working days of the
    // agreed performance date; the case's follow-up ends that limit.
    let agreement = agree(&app, &case).await;
    let follow_up = record_deadline(&app, &case, &agreement).await;
    assert_eq!(follow_up.state, "effective");
    assert_eq!(follow_up.on_expiry, "mark_overdue");
    assert_eq!(follow_up.started_at, end_of("2027-01-15"));
    ok(&app, &case, MEDIATOR, json!({"action": "reach_agreement"})).await;
    assert_eq!(
        record_deadline(&app, &case, &agreement).await.status,
        "active"
    );
    ok(
        &app,
        &case,
        MEDIATOR,
        json!({"action": "follow_up", "fields": {"performance": "performed"}}),
    )
    .await;
    assert_eq!(record_deadline(&app, &case, &agreement).await.status, "met");
    verify_log(&app.db, &[verifier(&key)])
        .await
        .expect("the log verifies");
}

crate::db_test!(an_unanswered_follow_up_marks_the_dispute_overdue);
async fn an_unanswered_follow_up_marks_the_dispute_overdue(backend: Backend) {
    let app = spawn_app(backend).await;
    let case = register(&app, "装修款纠纷", json!({})).await;
    start_mediation(&app, &case).await;
    let agreement = agree(&app, &case).await;
    ok(&app, &case, MEDIATOR, json!({"action": "reach_agreement"})).await;
    let due = record_deadline(&app, &case, &agreement)
        .await
        .due_at
        .expect("due");
    // Just before: the warning (and the confirmation clock, long run out).
    assert!(app.db.fire_due_deadlines(due - 1, 100).await.expect("fire") >= 1);
    let before = app
        .db
        .case_unscoped(&case)
        .await
        .expect("case")
        .expect("exists");
    assert!(before.overdue_since.is_none());
    assert!(app.db.fire_due_deadlines(due, 100).await.expect("fire") >= 1);
    let after = app
        .db
        .case_unscoped(&case)
        .await
        .expect("case")
        .expect("exists");
    assert_eq!(after.overdue_since, Some(due));
    assert_eq!(after.state, "agreed");
}

/// A party's multipart post to the lookup (evidence with a file).
async fn party_submits(
    app: &TestApp,
    code: &str,
    digits: &str,
    fields: &[(&str, &str)],
    file: Option<Vec<u8>>,
) -> (StatusCode, String) {
    let mut form = reqwest::multipart::Form::new()
        .text("form_token", crate::pages::FORM_TOKEN)
        .text("receipt_code", code.to_string())
        .text("phone_last4", digits.to_string())
        .text("kind", "evidence");
    for (k, v) in fields {
        form = form.text(format!("f.{k}"), v.to_string());
    }
    if let Some(bytes) = file {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("收据.png"),
        );
    }
    let r = crate::pages::visitor()
        .post(app.url("/lookup/records"))
        .multipart(form)
        .send()
        .await
        .expect("post");
    (r.status(), r.text().await.expect("text"))
}

crate::db_test!(the_parties_exchange_evidence_through_the_mediator);
async fn the_parties_exchange_evidence_through_the_mediator(backend: Backend) {
    let app = spawn_app(backend).await;
    let case = register(&app, "修缮费用纠纷", json!({})).await;
    start_mediation(&app, &case).await;
    let code = app
        .db
        .case_unscoped(&case)
        .await
        .expect("case")
        .expect("exists")
        .receipt_code;
    let lookup = |digits: &'static str| {
        let code = code.clone();
        let app = &app;
        async move {
            let form = [("receipt_code", code.as_str()), ("phone_last4", digits)];
            public_post(app, "/lookup", &form).await.1
        }
    };

    // The applicant finds the form on the lookup and submits her receipt
    // with a photo of it; without a title nothing is recorded.
    assert!(lookup("0001").await.contains("id=\"add-evidence\""));
    let png = crate::attachments::png_bytes();
    let (status, html) = party_submits(&app, &code, "0001", &[], Some(png.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("未能记录"), "{html}");
    assert!(
        app.db
            .attachments_of(&case)
            .await
            .expect("files")
            .is_empty()
    );
    let (status, html) = party_submits(
        &app,
        &code,
        "0001",
        &[
            ("title", "修缮收据"),
            ("description", "2026年11月修缮屋顶支付3500元"),
        ],
        Some(png.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("已收到"), "{html}");
    let records = app.db.records_of(&case).await.expect("records");
    let evidence = records
        .iter()
        .find(|r| r.kind == "evidence")
        .expect("the evidence is recorded");
    assert_eq!(evidence.state.as_deref(), Some("submitted"));
    let applicant = app.db.parties_of(&case).await.expect("parties");
    let applicant = applicant
        .iter()
        .find(|p| p.role == "applicant")
        .expect("applicant");
    assert_eq!(evidence.party_id.as_deref(), Some(applicant.id.as_str()));
    // She sees it, with her file; the respondent does not, yet.
    assert!(lookup("0001").await.contains("修缮收据"));
    assert!(!lookup("0002").await.contains("修缮收据"));
    // A respondent cannot fetch it by guessing either.
    let fetch = |digits: &'static str| {
        let code = code.clone();
        let app = &app;
        let record = evidence.id.clone();
        async move {
            let mut form = vec![
                ("receipt_code", code.clone()),
                ("phone_last4", digits.to_string()),
                ("record_id", record),
                ("field", "file".to_string()),
            ];
            form.push(("form_token", crate::pages::FORM_TOKEN.to_string()));
            let r = crate::pages::visitor()
                .post(app.url("/lookup/file"))
                .form(&form)
                .send()
                .await
                .expect("post");
            (r.status(), r.bytes().await.expect("bytes").to_vec())
        }
    };
    assert_eq!(fetch("0002").await.0, StatusCode::NOT_FOUND);
    let (status, bytes) = fetch("0001").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, png, "a PNG without metadata is its own public copy");

    // The mediator passes it on; now the respondent sees it and its file.
    let (status, body) = record_act(&app, &case, &evidence.id, json!({"action": "share"})).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert!(lookup("0002").await.contains("修缮收据"));
    assert_eq!(fetch("0002").await.0, StatusCode::OK);

    // The respondent's own evidence, kept back by the mediator with a
    // reason, never reaches the applicant.
    let (_, html) = party_submits(&app, &code, "0002", &[("title", "邻居证言")], None).await;
    assert!(html.contains("已收到"), "{html}");
    let kept = app
        .db
        .records_of(&case)
        .await
        .expect("records")
        .into_iter()
        .find(|r| r.fields.get("title") == Some(&json!("邻居证言")))
        .expect("recorded");
    let (status, body) = record_act(
        &app,
        &case,
        &kept.id,
        json!({"action": "withhold", "fields": {"withheld_reason": "与本案无关"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert!(lookup("0002").await.contains("邻居证言"));
    assert!(!lookup("0001").await.contains("邻居证言"));

    // A party cannot point its evidence at a file of the case by its id.
    let file = app.db.attachments_of(&case).await.expect("files")[0]
        .id
        .clone();
    party_submits(
        &app,
        &code,
        "0002",
        &[("title", "借用文件"), ("file", file.as_str())],
        None,
    )
    .await;
    let borrowed = app
        .db
        .records_of(&case)
        .await
        .expect("records")
        .into_iter()
        .find(|r| r.fields.get("title") == Some(&json!("借用文件")))
        .expect("recorded");
    assert!(
        borrowed.fields.get("file").is_none(),
        "{:?}",
        borrowed.fields
    );

    // Staff cannot point a record at a file of another case.
    let other = register(&app, "另一纠纷", json!({})).await;
    start_mediation(&app, &other).await;
    let file = app.db.attachments_of(&case).await.expect("files")[0]
        .id
        .clone();
    let r = app
        .post(
            &format!("/api/v1/cases/{other}/records"),
            MEDIATOR,
            json!({"kind": "evidence", "fields": {"title": "借用", "file": file}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "fields.file", "{:?}", r.body);
}

/// Whether `user` finds `case` in the case list.
async fn lists(app: &TestApp, user: &str, case: &str) -> bool {
    let r = app.get("/api/v1/cases?limit=500", user).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["cases"]
        .as_array()
        .is_some_and(|a| a.iter().any(|c| c["id"] == case))
}

crate::db_test!(an_invited_mediator_sees_only_the_disputes_assigned_to_him);
async fn an_invited_mediator_sees_only_the_disputes_assigned_to_him(backend: Backend) {
    const INVITED: &str = "city.invited_mediator";
    let app = spawn_app(backend).await;
    // The city's pool mediator is granted over the whole city, but two
    // disputes registered at D1 are not his to see.
    let assigned = register(&app, "医疗费用赔偿纠纷", json!({"dispute_kind": "medical"})).await;
    let other = register(&app, "邻里噪音纠纷", json!({})).await;
    let path = format!("/api/v1/cases/{assigned}");
    assert_eq!(app.get(&path, INVITED).await.status, StatusCode::NOT_FOUND);
    assert!(!lists(&app, INVITED, &assigned).await);

    // He is offered as a candidate, and once assigned the dispute is his.
    ok(&app, &assigned, CLERK, json!({"action": "accept"})).await;
    let invited = user_id(&app, INVITED).await;
    let r = app
        .get(&format!("/api/v1/cases/{assigned}/candidates"), CLERK)
        .await;
    assert!(
        r.body["fields"]["mediator"]
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p["user_id"] == invited.as_str())),
        "{:?}",
        r.body
    );
    ok(
        &app,
        &assigned,
        CLERK,
        json!({"action": "assign_mediator", "fields": {"mediator": invited}}),
    )
    .await;
    assert_eq!(app.get(&path, INVITED).await.status, StatusCode::OK);
    assert!(lists(&app, INVITED, &assigned).await);
    assert!(!lists(&app, INVITED, &other).await);
    assert_eq!(
        app.get(&format!("/api/v1/cases/{other}"), INVITED)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // He works it: a session, and the parties' personal data with a purpose.
    let r = app
        .post(
            &format!("/api/v1/cases/{assigned}/records"),
            INVITED,
            json!({"kind": "session", "fields": {"on": "2027-01-05", "time": "09:30", "place": "街道调解室"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // The dashboard's figures over the city never count cases he cannot see.
    let r = app.get("/api/v1/indicators?pack=mediation", INVITED).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["total"]["received"], 0, "{:?}", r.body);
    let r = app.get("/api/v1/indicators?pack=mediation", CLERK).await;
    assert_eq!(r.body["total"]["received"], 2, "{:?}", r.body);

    // When the parties ask for another mediator, his access ends with it.
    let mediator = user_id(&app, MEDIATOR).await;
    ok(
        &app,
        &assigned,
        CLERK,
        json!({"action": "change_mediator", "reason": "当事人申请更换",
               "fields": {"mediator": mediator}}),
    )
    .await;
    assert_eq!(app.get(&path, INVITED).await.status, StatusCode::NOT_FOUND);
    assert!(!lists(&app, INVITED, &assigned).await);
    let r = app
        .post(
            &format!("/api/v1/cases/{assigned}/records"),
            INVITED,
            json!({"kind": "session", "fields": {"on": "2027-01-06", "time": "09:30", "place": "街道调解室"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    app.stop().await;
}

crate::db_test!(an_agreement_lists_what_each_party_undertakes_and_the_document_prints_it);
async fn an_agreement_lists_what_each_party_undertakes_and_the_document_prints_it(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let case = register(&app, "雨棚越界纠纷", json!({})).await;
    start_mediation(&app, &case).await;
    let records = format!("/api/v1/cases/{case}/records");

    // Over the API: each obligation with who, what, how much and by when.
    let r = app
        .post(
            &records,
            MEDIATOR,
            json!({"kind": "agreement", "fields": {
            "terms": "双方就雨棚越界一事达成如下协议",
            "obligations": [
                {"party": "respondent", "what": "拆除越界搭建的雨棚", "by": "2027-01-15"},
                {"party": "respondent", "what": "赔偿修缮费用", "amount": "3500"},
            ]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let agreement = r.body["id"].as_str().expect("id").to_string();
    let stored = app.db.records_of(&case).await.expect("records");
    assert_eq!(
        stored[0].fields["obligations"],
        json!([
            {"party": "respondent", "what": "拆除越界搭建的雨棚", "by": "2027-01-15"},
            {"party": "respondent", "what": "赔偿修缮费用", "amount": "3500.00"},
        ])
    );
    // A bad item is refused, naming the item and its part; nothing is added.
    let r = app
        .post(
            &records,
            MEDIATOR,
            json!({"kind": "agreement", "fields": {"terms": "x",
                   "obligations": [{"party": "respondent", "what": "a"}, {"party": "judge", "what": "b"}]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("item 2") && message.contains("`party`"),
        "{:?}",
        r.body
    );
    assert!(
        r.body["field"]
            .as_str()
            .is_some_and(|f| f.contains("obligations")),
        "{:?}",
        r.body
    );
    assert_eq!(app.db.records_of(&case).await.expect("records").len(), 1);

    // On the case page: a row per obligation; blank rows are left out.
    let (mediator, csrf) = crate::pages::session(&app, MEDIATOR).await;
    let page = mediator
        .get(app.url(&format!("/cases/{case}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("name=\"f.obligations.0.party\"")
            && page.contains("name=\"f.obligations.3.what\""),
        "{page}"
    );
    assert!(
        page.contains("1. 义务人: 被申请人；事项: 拆除越界搭建的雨棚；期限: 2027-01-15"),
        "{page}"
    );
    let posted = mediator
        .post(app.url(&format!("/cases/{case}/records")))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("kind", "agreement"),
            ("f.terms", "补充协议"),
            ("f.obligations.0.party", "applicant"),
            ("f.obligations.0.what", "配合施工人员进入阳台"),
            ("f.obligations.1.party", ""),
            ("f.obligations.1.what", ""),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    let stored = app.db.records_of(&case).await.expect("records");
    assert_eq!(
        stored[1].fields["obligations"],
        json!([{"party": "applicant", "what": "配合施工人员进入阳台"}])
    );

    // The 调解协议书 lists them under the terms.
    let r = app
        .post(
            &format!("/api/v1/cases/{case}/documents"),
            MEDIATOR,
            json!({"template": "agreement", "record": agreement}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let html = r.body["html"].as_str().unwrap_or_default();
    for text in [
        "<li>被申请人拆除越界搭建的雨棚，于 2027-01-15 前履行。</li>",
        "<li>被申请人赔偿修缮费用，金额人民币 3500.00 元。</li>",
    ] {
        assert!(html.contains(text), "the agreement lacks {text}: {html}");
    }
    app.stop().await;
}
