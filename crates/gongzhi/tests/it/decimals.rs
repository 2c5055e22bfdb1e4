//! Money as exact decimals: a handler reports what the work cost, to the
//! fen; floats and amounts that would need rounding are refused.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Backend, spawn_app};

crate::db_test!(a_cost_is_kept_to_the_fen);
async fn a_cost_is_kept_to_the_fen(backend: Backend) {
    let app = spawn_app(backend).await;
    let case = app.create_item("井盖更换").await;
    for (user, body) in [
        (
            "d1.dispatcher",
            json!({"action": "assign", "target_unit": app.unit("D1-CG")}),
        ),
        ("cg.handler", json!({"action": "accept"})),
    ] {
        let r = app.act(&case, user, body).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    // A float may already have lost the amount; more digits than fen would
    // need rounding: both refused, naming the field, and nothing changes.
    for (cost, says) in [
        (json!(0.1), "string"),
        (json!("1280.505"), "never rounded"),
        (json!("-5"), "at least"),
    ] {
        let r = app
            .act(
                &case,
                "cg.handler",
                json!({"action": "report", "fields": {"result": "已更换", "cost": cost}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
        assert_eq!(r.body["field"], "cost", "{:?}", r.body);
        let message = r.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{message}");
    }
    let r = app
        .act(
            &case,
            "cg.handler",
            json!({"action": "report", "fields": {"result": "已更换", "cost": "1280.5"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let read = app
        .get(&format!("/api/v1/cases/{case}"), "cg.handler")
        .await;
    assert_eq!(read.body["fields"]["cost"], "1280.50");
    assert_eq!(read.body["state"], "resolved");
    app.stop().await;
}
