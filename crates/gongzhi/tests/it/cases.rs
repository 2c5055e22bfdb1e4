use reqwest::StatusCode;
use serde_json::json;

use gongzhi_domain::time::{MICROS_PER_DAY, now_micros};

use crate::harness::{Backend, spawn_app};

/// A whole item: created, assigned, returned, re-assigned, accepted, reported,
/// closed; every step in the log, the timeline read from it, leaf hashes that
/// recompute, deadlines opened and closed with the states.
async fn item_lifecycle_is_logged(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_item("小区路灯不亮").await;
    let case = app.get(&format!("/api/v1/cases/{id}"), "d1.operator").await;
    assert_eq!(case.body["state"], "registered");
    assert_eq!(case.body["area_unit_id"], app.unit("G1a"));
    assert_eq!(case.body["holder_unit_id"], app.unit("D1"));
    // Personal data is masked in the case view.
    assert_eq!(case.body["fields"]["contact_phone"], "138****5678");
    assert_eq!(case.body["fields"]["title"], "小区路灯不亮");
    assert_eq!(case.body["deadlines"].as_array().map(|d| d.len()), Some(1));
    let receipt = case.body["receipt_code"]
        .as_str()
        .expect("receipt")
        .to_string();
    assert!(gongzhi_domain::ids::normalize_receipt_code(&receipt).is_some());

    let steps = [
        (
            "d1.dispatcher",
            json!({"action": "assign", "target_unit": app.unit("D1-CG"), "fields": {"priority": "urgent"}}),
            "assigned",
        ),
        (
            "cg.handler",
            json!({"action": "return", "reason": "不属于本单位职责"}),
            "returned",
        ),
        (
            "d1.dispatcher",
            json!({"action": "assign", "target_unit": app.unit("D1-CG")}),
            "assigned",
        ),
        ("cg.handler", json!({"action": "accept"}), "in_progress"),
        (
            "cg.handler",
            json!({"action": "report", "fields": {"result": "已更换灯泡"}}),
            "resolved",
        ),
        ("d1.operator", json!({"action": "close"}), "closed"),
    ];
    for (user, body, state) in steps {
        let r = app.act(&id, user, body.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{user} {body}: {:?}", r.body);
        assert_eq!(r.body["log_entry"]["to_state"], state);
    }
    // A wrong-state action is refused and changes nothing.
    let before = app
        .get(&format!("/api/v1/cases/{id}"), "d1.operator")
        .await
        .body;
    let r = app
        .act(&id, "cg.handler", json!({"action": "accept"}))
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "wrong_state"));
    let r = app
        .act(
            &id,
            "d1.handler",
            json!({"action": "reopen", "reason": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "role_not_allowed")
    );
    let r = app
        .act(&id, "d1.supervisor", json!({"action": "reopen"}))
        .await;
    assert_eq!(r.code(), "reason_required");
    let after = app
        .get(&format!("/api/v1/cases/{id}"), "d1.operator")
        .await
        .body;
    assert_eq!(before, after);
    assert_eq!(after["state"], "closed");
    assert!(after["closed_at"].is_i64());

    let timeline = app
        .get(&format!("/api/v1/cases/{id}/timeline"), "d1.operator")
        .await;
    let entries = timeline.body["entries"]
        .as_array()
        .expect("entries")
        .clone();
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "create", "assign", "return", "assign", "accept", "report", "close"
        ]
    );
    assert_eq!(entries[2]["reason"], "不属于本单位职责");
    assert_eq!(
        entries[2]["changes"]["holder_unit_id"]["after"],
        app.unit("D1")
    );
    assert_eq!(entries[1]["changes"]["priority"]["after"], "urgent");
    assert_eq!(entries[1]["actor_name"], "d1.dispatcher");
    assert_eq!(entries[1]["actor_unit_id"], app.unit("D1"));
    // Personal values appear only as salted digests.
    let created = entries[0]["changes"].to_string();
    assert!(
        !created.contains("13812345678") && !created.contains("张三"),
        "{created}"
    );
    assert!(
        entries[0]["changes"]["contact_phone"]["after"]
            .as_str()
            .unwrap_or("")
            .starts_with("sha256:")
    );

    // Every stored leaf hash recomputes from the stored entry, and seqs are dense.
    let log = app.db.log_entries(0, 1000).await.expect("log");
    assert_eq!(log.len(), 7);
    for (i, (entry, stored)) in log.iter().enumerate() {
        assert_eq!(entry.seq, i as u64);
        assert_eq!(&entry.leaf_hash_hex(), stored);
    }

    // Deadlines: one per state entered, all closed but the terminal state has
    // none; beside them the overall clock, started once and met.
    let (deadlines, clocks): (Vec<_>, Vec<_>) = app
        .db
        .deadlines_of(&id)
        .await
        .expect("deadlines")
        .into_iter()
        .partition(|d| d.clock.is_none());
    assert_eq!(deadlines.len(), 6, "{deadlines:?}");
    assert_eq!(clocks.len(), 1, "{clocks:?}");
    assert_eq!(clocks[0].status, "met");
    assert!(deadlines.iter().all(|d| d.status == "met"));
    assert!(
        deadlines
            .iter()
            .all(|d| d.due_at.is_some_and(|due| due > d.started_at))
    );
    app.stop().await;
}
crate::db_test!(item_lifecycle_is_logged);

/// A stale form (old version) is refused; nothing changes.
async fn stale_versions_conflict(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_item("噪音扰民").await;
    let r = app
        .act(
            &id,
            "d1.dispatcher",
            json!({"action": "assign", "target_unit": app.unit("D1-CG"), "version": 7}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "version_conflict")
    );
    let r = app
        .act(
            &id,
            "d1.dispatcher",
            json!({"action": "assign", "target_unit": "u-nowhere", "version": 1}),
        )
        .await;
    assert_eq!(
        (r.status, r.code(), r.body["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("target_unit")
        )
    );
    let r = app
        .act(
            &id,
            "d1.dispatcher",
            json!({"action": "assign", "target_unit": app.unit("D1-CG"), "version": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(app.db.log_entries(0, 100).await.expect("log").len(), 2);
    app.stop().await;
}
crate::db_test!(stale_versions_conflict);

/// Concurrent actions on one case: exactly one wins per state, the log stays
/// dense and every entry hashes.
async fn concurrent_actions_serialise(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_item("井盖缺失").await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = app.client.clone();
        let url = app.url(&format!("/api/v1/cases/{id}/actions"));
        let key = app.keys["d1.dispatcher"].clone();
        let target = app.unit("D1-CG");
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"action": "assign", "target_unit": target}))
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let status = t.await.expect("join").expect("send");
        assert!(
            status == StatusCode::OK || status == StatusCode::CONFLICT,
            "{status}"
        );
        if status == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
    let log = app.db.log_entries(0, 100).await.expect("log");
    assert_eq!(log.len(), 2);
    app.stop().await;
}
crate::db_test!(concurrent_actions_serialise);

/// The deadline worker fires each due deadline once, and its effect (overdue,
/// escalation) lands with a log entry; firing again does nothing.
async fn deadlines_fire_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_item("占道经营").await;
    let r = app
        .act(
            &id,
            "d1.dispatcher",
            json!({"action": "assign", "target_unit": app.unit("D1-CG")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Not yet due: nothing fires.
    assert_eq!(
        app.db
            .fire_due_deadlines(now_micros() - MICROS_PER_DAY, 100)
            .await
            .expect("fire"),
        0
    );
    let far = now_micros() + 60 * MICROS_PER_DAY;
    let fired = app.db.fire_due_deadlines(far, 100).await.expect("fire");
    assert!(fired >= 1);
    assert_eq!(
        app.db
            .fire_due_deadlines(far, 100)
            .await
            .expect("fire again"),
        0
    );
    let case = app
        .db
        .case_unscoped(&id)
        .await
        .expect("case")
        .expect("exists");
    assert!(
        case.overdue_since.is_some(),
        "assigned expires as mark_overdue"
    );
    let timeline = app.db.timeline(&id).await.expect("timeline");
    let expired: Vec<_> = timeline
        .iter()
        .filter(|e| e.action == "deadline_expired")
        .collect();
    // The assigned state's deadline and the overall clock, once each.
    assert_eq!(expired.len(), 2);
    assert!(expired.iter().all(|e| e.actor_id.is_none()));

    // In progress escalates to the parent unit on expiry.
    let r = app
        .act(&id, "cg.handler", json!({"action": "accept"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let later = far + 60 * MICROS_PER_DAY;
    assert!(app.db.fire_due_deadlines(later, 100).await.expect("fire") >= 1);
    let case = app
        .db
        .case_unscoped(&id)
        .await
        .expect("case")
        .expect("exists");
    assert_eq!(case.holder_unit_id, app.unit("D1"));
    let log = app.db.log_entries(0, 100).await.expect("log");
    for (entry, stored) in &log {
        assert_eq!(&entry.leaf_hash_hex(), stored);
    }
    app.stop().await;
}
crate::db_test!(deadlines_fire_once);

/// The log refuses updates and deletes on SQLite (on PostgreSQL, privileges do).
#[tokio::test]
async fn sqlite_log_is_append_only() {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_item("append only").await;
    if let gongzhi_store::Db::Sqlite(pool) = &app.db {
        let update = sqlx::query("UPDATE log_entries SET action = 'x'")
            .execute(pool)
            .await;
        assert!(update.is_err());
        let delete = sqlx::query("DELETE FROM log_entries").execute(pool).await;
        assert!(delete.is_err());
    }
    assert_eq!(app.db.log_entries(0, 10).await.expect("log").len(), 1);
    app.stop().await;
}

/// A deadline computed without a year's holiday data is provisional, and is
/// recomputed (no longer provisional) once the calendar has that year.
async fn provisional_deadlines_are_recomputed(backend: Backend) {
    use gongzhi_domain::calendar::{OfficeHours, WorkCalendar};
    let app = spawn_app(backend).await;
    let id = app.create_item("周末施工噪音").await;
    let actor = app
        .db
        .actor(
            &app.db
                .user_by_username("d1.dispatcher")
                .await
                .expect("u")
                .expect("exists")
                .id,
        )
        .await
        .expect("a")
        .expect("actor");
    // Act with a calendar that has no holiday data at all: the new deadline is provisional.
    let bare = WorkCalendar::empty(
        WorkCalendar::parse_tz("Asia/Shanghai").expect("tz"),
        OfficeHours::default_china(),
    );
    let request = gongzhi_domain::engine::ActionRequest {
        action: "assign".into(),
        fields: Default::default(),
        reason: None,
        target_unit: Some(app.unit("D1-CG")),
    };
    // 2026-09-30 10:00 Shanghai: one working day runs into the 国庆 holiday.
    let at = gongzhi_domain::time::parse_rfc3339("2026-09-30T02:00:00Z").expect("time");
    app.db
        .act(
            gongzhi_store::Rules {
                packs: &crate::harness::test_packs(),
                calendar: &bare,
                categories: &gongzhi_domain::pack::NoCategoryDeadlines,
            },
            &actor,
            &id,
            request,
            None,
            at,
        )
        .await
        .expect("assign");
    let open = |d: &Vec<gongzhi_store::DeadlineRecord>| {
        d.iter()
            .find(|d| d.status == "active" && d.clock.is_none())
            .cloned()
            .expect("open deadline")
    };
    let before = open(&app.db.deadlines_of(&id).await.expect("deadlines"));
    assert!(before.provisional);
    assert_eq!(
        app.db
            .recompute_provisional_deadlines(&WorkCalendar::builtin())
            .await
            .expect("recompute"),
        // The assigned state's deadline and the overall clock.
        2
    );
    let after = open(&app.db.deadlines_of(&id).await.expect("deadlines"));
    assert!(!after.provisional);
    // Plain Mon–Fri said Thursday 1 October; the real calendar skips the holiday.
    assert!(after.due_at > before.due_at, "{before:?} {after:?}");
    assert_ne!(after.calendar_version, before.calendar_version);
    app.stop().await;
}
crate::db_test!(provisional_deadlines_are_recomputed);
