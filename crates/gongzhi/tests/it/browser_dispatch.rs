//! The dispatch board and the assist tasks in a real headless browser: a
//! dispatcher batch-dispatches from the board, an assisting unit reports its
//! task back, and the board reads in English. Screenshots 30-32.

use fantoccini::{Client, Locator};
use serde_json::json;

use gongzhi_domain::role::Role;

use crate::browser::{
    PASSWORD, add_user, body, browser_available, click, fill, login, logout, shot, start_browser,
    text_of,
};
use crate::harness::{Backend, TestApp, spawn_app};

/// A request created by the D1 operator through the API; `(id, receipt)`.
async fn request(app: &TestApp, title: &str, placed: bool) -> (String, String) {
    let mut body = json!({"pack": "requests", "case_type": "request",
        "fields": {"title": title, "category": "R01.02", "channel": "hotline"}});
    if placed {
        body["lng"] = json!(113.1);
        body["lat"] = json!(28.05);
    }
    let r = app.post("/api/v1/cases", "d1.operator", body).await;
    assert_eq!(r.status, reqwest::StatusCode::CREATED, "{:?}", r.body);
    (
        r.body["id"].as_str().expect("id").to_string(),
        r.body["receipt_code"]
            .as_str()
            .expect("receipt")
            .to_string(),
    )
}

async fn act(app: &TestApp, id: &str, user: &str, body: serde_json::Value) {
    let r = app.act(id, user, body.clone()).await;
    assert_eq!(
        r.status,
        reqwest::StatusCode::OK,
        "{user} {body}: {:?}",
        r.body
    );
}

async fn tick(c: &Client, case_id: &str) {
    c.find(Locator::Css(&format!(
        "input[name='case'][value='{case_id}']"
    )))
    .await
    .unwrap_or_else(|e| panic!("checkbox of {case_id}: {e}"))
    .click()
    .await
    .expect("tick");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_works_the_board() {
    if !browser_available() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await;
    let hash = gongzhi_web::auth::hash_password(PASSWORD.into())
        .await
        .expect("hash");
    add_user(
        &app,
        "board.dispatcher",
        Role::intern("dispatcher"),
        "D1",
        &hash,
    )
    .await;
    add_user(&app, "board.assist", Role::intern("handler"), "CG", &hash).await;

    let (a_id, a_code) = request(&app, "人行道地砖松动", true).await;
    let (b_id, b_code) = request(&app, "小区道路破损", true).await;
    let (manual_id, manual_code) = request(&app, "电话反映，地点不详", false).await;
    let (ret_id, ret_code) = request(&app, "楼道堆物", true).await;
    act(
        &app,
        &ret_id,
        "d1.dispatcher",
        json!({"action": "dispatch", "target_unit": app.unit("D1-CG")}),
    )
    .await;
    act(
        &app,
        &ret_id,
        "cg.handler",
        json!({"action": "return", "reason": "不属本局职责范围"}),
    )
    .await;
    let (joint_id, joint_code) = request(&app, "地下管线渗水", true).await;
    act(
        &app,
        &joint_id,
        "d1.dispatcher",
        json!({"action": "dispatch", "target_unit": app.unit("D1-CG")}),
    )
    .await;
    act(&app, &joint_id, "cg.handler", json!({"action": "accept"})).await;
    act(
        &app,
        &joint_id,
        "d1.dispatcher",
        json!({"action": "add_assist", "target_unit": app.unit("CG"),
        "fields": {"assist_task": "调查市政管网"}}),
    )
    .await;

    let (_driver, c) = start_browser().await;
    login(&c, &app, "board.dispatcher", PASSWORD).await;
    click(&c, "#nav-dispatch").await;
    assert_eq!(text_of(&c, "h1").await, "分拨台");
    let registered = text_of(&c, "#sec-registered").await;
    for code in [&a_code, &b_code, &manual_code] {
        assert!(registered.contains(code.as_str()), "{code} in {registered}");
    }
    assert!(registered.contains("一区城管局"), "{registered}");
    let returned = text_of(&c, "#sec-returned").await;
    assert!(returned.contains(&ret_code) && returned.contains("不属本局职责范围"));

    // Batch: two go to their suggested unit; the one without a suggestion is reported.
    for id in [&a_id, &b_id, &manual_id] {
        tick(&c, id).await;
    }
    click(&c, "#batch-dispatch").await;
    assert_eq!(text_of(&c, "#dispatch-ok").await, "已分拨 2 件。");
    let failures = text_of(&c, "#dispatch-failures").await;
    assert!(
        failures.contains(&manual_code) && failures.contains("请选择分拨单位"),
        "{failures}"
    );
    let registered = text_of(&c, "#sec-registered").await;
    assert!(registered.contains(&manual_code) && !registered.contains(&a_code));
    for id in [&a_id, &b_id] {
        let case = app
            .db
            .case_unscoped(id)
            .await
            .expect("case")
            .expect("exists");
        assert_eq!(
            (case.state.as_str(), case.holder_unit_id),
            ("dispatched", app.unit("D1-CG"))
        );
    }
    // The manual one goes to a chosen unit, with a reason.
    tick(&c, &manual_id).await;
    c.find(Locator::Css("#target_unit"))
        .await
        .expect("target")
        .select_by_value(&app.unit("S1"))
        .await
        .expect("choose unit");
    fill(&c, "#reason", "电话回访确认在一街道").await;
    c.set_window_size(1280, 1500).await.expect("resize");
    shot(&c, "30-dispatch-board").await;
    c.set_window_size(360, 800).await.expect("resize");
    shot(&c, "30-dispatch-board-360").await;
    c.set_window_size(1280, 1000).await.expect("resize");
    click(&c, "#batch-dispatch").await;
    assert_eq!(text_of(&c, "#dispatch-ok").await, "已分拨 1 件。");
    assert!(text_of(&c, "#sec-registered").await.contains("暂无诉求"));
    logout(&c).await;

    // The assisting unit sees its task and reports back.
    login(&c, &app, "board.assist", PASSWORD).await;
    click(&c, "#nav-assists").await;
    assert_eq!(text_of(&c, "h1").await, "协办任务");
    let open = text_of(&c, "#assists-open").await;
    assert!(
        open.contains(&joint_code) && open.contains("调查市政管网"),
        "{open}"
    );
    shot(&c, "31-assists").await;
    let field = c
        .find(Locator::Css("#assists-open textarea"))
        .await
        .expect("result field");
    field.send_keys("管网已疏通").await.expect("type");
    click(&c, &format!("#report-{joint_code}")).await;
    assert!(text_of(&c, "#assists-result").await.contains("已反馈 1 项"));
    assert!(text_of(&c, "#assists-closed").await.contains("管网已疏通"));
    logout(&c).await;

    // In English, the board's strings change.
    login(&c, &app, "board.dispatcher", PASSWORD).await;
    click(&c, "#nav-dispatch").await;
    click(&c, "#switch-lang").await;
    assert_eq!(text_of(&c, "h1").await, "Dispatch board");
    let text = body(&c).await;
    for s in [
        "To dispatch",
        "Returned",
        "Batch dispatch",
        "Dispatch to",
        "Received from",
        "Returned because:",
    ] {
        assert!(text.contains(s), "{s} in {text}");
    }
    for s in [
        "分拨台",
        "待分拨",
        "批量分拨",
        "分拨理由",
        "退回理由",
        "受理日期",
    ] {
        assert!(!text.contains(s), "{s} left in Chinese: {text}");
    }
    shot(&c, "32-dispatch-board-en").await;
    click(&c, "#switch-lang").await;
    app.stop().await;
}
