//! A named clock spans states: the generic pack's overall handling time runs
//! from dispatch to the reported result, through acceptance, a return and a
//! second dispatch, while each state's own deadline comes and goes inside it.

use reqwest::StatusCode;
use serde_json::json;

use gongzhi_store::DeadlineRecord;

use crate::harness::{Backend, TestApp, spawn_app};
use crate::pages::session;

async fn overall(app: &TestApp, case: &str) -> Vec<DeadlineRecord> {
    app.db
        .deadlines_of(case)
        .await
        .expect("deadlines")
        .into_iter()
        .filter(|d| d.clock.as_deref() == Some("overall"))
        .collect()
}

crate::db_test!(the_overall_clock_runs_across_states_until_the_result);
async fn the_overall_clock_runs_across_states_until_the_result(backend: Backend) {
    let app = spawn_app(backend).await;
    let case = app.create_item("人行道破损").await;
    // Registered: the clock has not started.
    assert!(overall(&app, &case).await.is_empty());

    let steps = [
        (
            "d1.dispatcher",
            json!({"action": "assign", "target_unit": app.unit("D1-CG")}),
        ),
        (
            "cg.handler",
            json!({"action": "return", "reason": "不属于本单位职责"}),
        ),
        (
            "d1.dispatcher",
            json!({"action": "assign", "target_unit": app.unit("D1-CG")}),
        ),
        ("cg.handler", json!({"action": "accept"})),
    ];
    let mut first: Option<DeadlineRecord> = None;
    for (user, body) in steps {
        let r = app.act(&case, user, body.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{body}: {:?}", r.body);
        // One clock, started at the first dispatch, never restarted.
        let clocks = overall(&app, &case).await;
        assert_eq!(clocks.len(), 1, "{body}: {clocks:?}");
        assert_eq!(clocks[0].status, "active", "{body}");
        match &first {
            None => first = Some(clocks[0].clone()),
            Some(f) => {
                assert_eq!(clocks[0].id, f.id);
                assert_eq!(clocks[0].due_at, f.due_at);
            }
        }
    }
    let started = first.expect("clock");
    assert_eq!(started.rule, "10 working_days");
    assert_eq!(started.state, "assigned");
    // The states' own deadlines closed as the case moved on.
    let all = app.db.deadlines_of(&case).await.expect("deadlines");
    let open_state_deadlines: Vec<&str> = all
        .iter()
        .filter(|d| d.clock.is_none() && d.status == "active")
        .map(|d| d.state.as_str())
        .collect();
    assert_eq!(open_state_deadlines, vec!["in_progress"]);

    // The case page names the clock.
    let (client, _) = session(&app, "cg.handler").await;
    let html = client
        .get(app.url(&format!("/cases/{case}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("办理总时限"), "{html}");

    // The result stops it, met, and the log says so.
    let r = app
        .act(
            &case,
            "cg.handler",
            json!({"action": "report", "fields": {"result": "已修复"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let clocks = overall(&app, &case).await;
    assert_eq!(clocks.len(), 1);
    assert_eq!(clocks[0].status, "met");
    let timeline = app
        .get(&format!("/api/v1/cases/{case}/timeline"), "cg.handler")
        .await;
    let entries = timeline.body["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let starts: Vec<&str> = entries
        .iter()
        .filter(|e| e["changes"]["clock.overall"]["after"]["status"] == "running")
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        starts,
        vec!["assign"],
        "started once, at the first dispatch"
    );
    let report = entries
        .iter()
        .find(|e| e["action"] == "report")
        .expect("report");
    assert_eq!(report["changes"]["clock.overall"]["after"], "met");
    app.stop().await;
}
