//! The dispatch board, the assist tasks and the list filters (issue 4),
//! over plain HTTP with session cookies and CSRF tokens.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, spawn_app};
use crate::pages::{location, session};

/// A request created by the D1 operator; `(id, receipt code)`.
async fn request(app: &TestApp, title: &str, category: &str, placed: bool) -> (String, String) {
    let mut body = json!({"pack": "requests", "case_type": "request",
        "fields": {"title": title, "category": category, "channel": "hotline"}});
    if placed {
        body["lng"] = json!(113.1);
        body["lat"] = json!(28.05);
    }
    let r = app.post("/api/v1/cases", "d1.operator", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    (
        r.body["id"].as_str().expect("id").to_string(),
        r.body["receipt_code"]
            .as_str()
            .expect("receipt")
            .to_string(),
    )
}

async fn ok(app: &TestApp, case: &str, user: &str, body: Value) {
    let r = app.act(case, user, body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{user} {body}: {:?}", r.body);
}

async fn case_state(app: &TestApp, id: &str) -> (String, String, i64) {
    let c = app
        .db
        .case_unscoped(id)
        .await
        .expect("case")
        .expect("exists");
    (c.state, c.holder_unit_id, c.version)
}

async fn page(client: &reqwest::Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = client.get(app.url(path)).send().await.expect("get");
    (r.status(), r.text().await.expect("text"))
}

/// The HTML of one board section.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"sec-{id}\""))
        .unwrap_or_else(|| panic!("section {id} in {html}"));
    let rest = &html[start..];
    let end = rest.find("</section>").unwrap_or(rest.len());
    &rest[..end]
}

/// Posts a board form as `user` (whose session is `client`, token `csrf`)
/// and returns the redirect and the result message the board then shows.
async fn post_board(
    app: &TestApp,
    user: &str,
    client: &reqwest::Client,
    form: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let r = client
        .post(app.url("/dispatch"))
        .form(form)
        .send()
        .await
        .expect("post");
    let status = r.status();
    let to = location(&r);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gz_flash="))
        .unwrap_or_default()
        .to_string();
    if !cookie.is_empty() {
        assert!(
            cookie.contains("Path=/dispatch;"),
            "only for the board: {cookie}"
        );
    }
    let flash = cookie.split(';').next().unwrap_or_default().to_string();
    let message = if flash.is_empty() {
        String::new()
    } else {
        let r = reqwest::Client::new()
            .get(app.url(&to))
            .header("cookie", format!("gz_session=test-session-{user}; {flash}"))
            .send()
            .await
            .expect("get");
        let html = r.text().await.expect("text");
        let start = html.find("id=\"dispatch-result\"").unwrap_or(0);
        let end = html[start..]
            .find("</div>")
            .map(|e| start + e)
            .unwrap_or(html.len());
        html[start..end].to_string()
    };
    (status, to, message)
}

async fn board_lists_each_section_for_dispatchers_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let (new_id, new_code) = request(&app, "小区道路破损", "R01.02", true).await;
    let (manual_id, manual_code) = request(&app, "电话反映，地点不详", "R01.02", false).await;
    let (ret_id, ret_code) = request(&app, "楼道堆物", "R01.02", true).await;
    ok(
        &app,
        &ret_id,
        "d1.dispatcher",
        json!({"action": "dispatch", "target_unit": app.unit("D1-CG")}),
    )
    .await;
    ok(
        &app,
        &ret_id,
        "cg.handler",
        json!({"action": "return", "reason": "不属本局职责范围"}),
    )
    .await;
    let (due_id, due_code) = request(&app, "路灯不亮", "R01.02", true).await;
    ok(
        &app,
        &due_id,
        "d1.dispatcher",
        json!({"action": "dispatch", "target_unit": app.unit("D1-CG")}),
    )
    .await;
    let (calm_id, calm_code) = request(&app, "刚分拨的", "R01.02", true).await;
    ok(
        &app,
        &calm_id,
        "d1.dispatcher",
        json!({"action": "dispatch", "target_unit": app.unit("D1-CG")}),
    )
    .await;
    // The accept deadline of one dispatched case is past its warning time.
    app.exec(&format!(
        "UPDATE deadlines SET warn_at = 0 WHERE case_id = '{due_id}' AND status = 'active'"
    ))
    .await;

    let (dispatcher, _) = session(&app, "d1.dispatcher").await;
    let (status, html) = page(&dispatcher, &app, "/dispatch").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"nav-dispatch\""));
    let registered = section(&html, "registered");
    assert!(registered.contains(&new_code) && registered.contains(&manual_code));
    assert!(!registered.contains(&ret_code) && !registered.contains(&due_code));
    assert!(registered.contains("一区城管局"), "the suggested unit");
    assert!(
        registered.contains("test_construction_d1"),
        "the route reason"
    );
    assert!(registered.contains("无建议单位"), "the manual queue");
    assert!(registered.contains(&format!("name=\"one\" value=\"{new_id}\"")));
    assert!(!registered.contains(&format!("name=\"one\" value=\"{manual_id}\"")));
    assert!(html.contains("其中 1 件需人工分拨"));
    let returned = section(&html, "returned");
    assert!(returned.contains(&ret_code) && returned.contains("不属本局职责范围"));
    let due = section(&html, "accept_due");
    assert!(due.contains(&due_code) && !due.contains(&calm_code));
    assert!(
        !due.contains("type=\"checkbox\""),
        "not dispatchable from there"
    );

    // In English, the board's own strings and the route reason change.
    let en = {
        let r = reqwest::Client::new()
            .get(app.url("/dispatch"))
            .header(
                "cookie",
                "gz_session=test-session-d1.dispatcher; gz_lang=en",
            )
            .send()
            .await
            .expect("get");
        r.text().await.expect("text")
    };
    assert!(
        en.contains("Dispatch board") && en.contains("Returned because:"),
        "{en}"
    );
    assert!(!en.contains("待分拨"));

    // Without dispatch rights: no board, no link, no posts.
    for user in ["d1.handler", "d1.operator", "d1.supervisor"] {
        let (client, csrf) = session(&app, user).await;
        let (status, html) = page(&client, &app, "/dispatch").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{user}");
        assert!(!html.contains("id=\"nav-dispatch\""), "{user}");
        let r = client
            .post(app.url("/dispatch"))
            .form(&[("csrf_token", csrf.as_str()), ("one", new_id.as_str())])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{user}");
    }
    assert_eq!(case_state(&app, &new_id).await.0, "registered");
    // Another district's dispatcher sees none of these.
    let (d2, _) = session(&app, "d2.dispatcher").await;
    let (status, html) = page(&d2, &app, "/dispatch").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains(&new_code) && !html.contains(&ret_code));
    app.stop().await;
}
crate::db_test!(board_lists_each_section_for_dispatchers_only);

async fn dispatches_go_through_the_engine(backend: Backend) {
    let app = spawn_app(backend).await;
    let (dispatcher, csrf) = session(&app, "d1.dispatcher").await;
    let (one_id, one_code) = request(&app, "一键分拨", "R01.02", true).await;
    let version = case_state(&app, &one_id).await.2.to_string();
    let v_one = format!("v.{one_id}");

    // A forged post (no token, or a wrong one) changes nothing.
    for token in [None, Some("forged")] {
        let mut form = vec![("one", one_id.as_str()), (v_one.as_str(), version.as_str())];
        if let Some(t) = token {
            form.push(("csrf_token", t));
        }
        let r = dispatcher
            .post(app.url("/dispatch"))
            .form(&form)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(case_state(&app, &one_id).await.0, "registered");

    // One click: to the suggested unit, logged as the case page's dispatch is.
    let form = [
        ("csrf_token", csrf.as_str()),
        ("back", "/dispatch?q=&category=R01"),
        ("one", one_id.as_str()),
        (v_one.as_str(), version.as_str()),
    ];
    let (status, to, message) = post_board(&app, "d1.dispatcher", &dispatcher, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(to, "/dispatch?q=&category=R01", "back to the same filters");
    assert!(message.contains("已分拨 1 件"), "{message}");
    let (st, holder, _) = case_state(&app, &one_id).await;
    assert_eq!((st.as_str(), holder), ("dispatched", app.unit("D1-CG")));
    let timeline = app.db.timeline(&one_id).await.expect("timeline");
    let last = timeline.last().expect("entry");
    assert_eq!(last.action, "dispatch");
    assert_eq!(last.actor_unit_id.as_deref(), Some(app.unit("D1").as_str()));
    let deadlines = app.db.deadlines_of(&one_id).await.expect("deadlines");
    assert!(
        deadlines
            .iter()
            .any(|d| d.state == "dispatched" && d.status == "active"),
        "the accept deadline runs"
    );
    // The same post again (a double click, a resend) does nothing twice.
    let (_, _, message) = post_board(&app, "d1.dispatcher", &dispatcher, &form).await;
    assert!(
        message.contains(&one_code) && message.contains("已被他人处理"),
        "{message}"
    );
    assert_eq!(
        app.db.timeline(&one_id).await.expect("t").len(),
        timeline.len()
    );

    // Another unit needs a reason; with one, it goes there and the override is logged.
    let (other_id, other_code) = request(&app, "改派", "R01.02", true).await;
    let v_other = format!("v.{other_id}");
    let version = case_state(&app, &other_id).await.2.to_string();
    let cg = app.unit("CG");
    let mut form = vec![
        ("csrf_token", csrf.as_str()),
        ("op", "batch"),
        ("case", other_id.as_str()),
        (v_other.as_str(), version.as_str()),
        ("target_unit", cg.as_str()),
    ];
    let (_, _, message) = post_board(&app, "d1.dispatcher", &dispatcher, &form).await;
    assert!(
        message.contains(&other_code) && message.contains("须填写理由"),
        "{message}"
    );
    assert_eq!(case_state(&app, &other_id).await.0, "registered");
    form.push(("reason", "涉及市政主干道"));
    let (_, _, message) = post_board(&app, "d1.dispatcher", &dispatcher, &form).await;
    assert!(message.contains("已分拨 1 件"), "{message}");
    assert_eq!(case_state(&app, &other_id).await.1, cg);
    let timeline = app.db.timeline(&other_id).await.expect("timeline");
    let last = timeline.last().expect("entry");
    assert_eq!(last.reason.as_deref(), Some("涉及市政主干道"));
    assert_eq!(last.changes["route_override"]["after"], json!(cg));

    // A batch with one case that cannot go (no suggestion) dispatches the rest.
    let (a_id, _) = request(&app, "批量一", "R01.02", true).await;
    let (b_id, _) = request(&app, "批量二", "R01.02", true).await;
    let (bad_id, bad_code) = request(&app, "地点不详", "R01.02", false).await;
    let mut owned: Vec<(String, String)> = vec![
        ("csrf_token".into(), csrf.clone()),
        ("op".into(), "batch".into()),
    ];
    for id in [&a_id, &bad_id, &b_id] {
        owned.push(("case".into(), id.clone()));
        owned.push((format!("v.{id}"), case_state(&app, id).await.2.to_string()));
    }
    let form: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (_, _, message) = post_board(&app, "d1.dispatcher", &dispatcher, &form).await;
    assert!(message.contains("已分拨 2 件"), "{message}");
    assert!(
        message.contains(&bad_code) && message.contains("请选择分拨单位"),
        "{message}"
    );
    for id in [&a_id, &b_id] {
        assert_eq!(case_state(&app, id).await.0, "dispatched");
    }
    assert_eq!(case_state(&app, &bad_id).await.0, "registered");
    // Nothing checked: said so.
    let (_, _, message) = post_board(
        &app,
        "d1.dispatcher",
        &dispatcher,
        &[("csrf_token", csrf.as_str()), ("op", "batch")],
    )
    .await;
    assert!(message.contains("请先勾选"), "{message}");

    // A returned case is dispatched again from the board.
    ok(
        &app,
        &a_id,
        "cg.handler",
        json!({"action": "return", "reason": "非本局"}),
    )
    .await;
    let v_a = format!("v.{a_id}");
    let version = case_state(&app, &a_id).await.2.to_string();
    let s1 = app.unit("S1");
    let form = [
        ("csrf_token", csrf.as_str()),
        ("op", "batch"),
        ("case", a_id.as_str()),
        (v_a.as_str(), version.as_str()),
        ("target_unit", s1.as_str()),
        ("reason", "属街道职责"),
    ];
    let (_, _, message) = post_board(&app, "d1.dispatcher", &dispatcher, &form).await;
    assert!(message.contains("已分拨 1 件"), "{message}");
    assert_eq!(
        case_state(&app, &a_id).await,
        (
            "dispatched".to_string(),
            s1,
            version.parse::<i64>().unwrap_or(0) + 1
        )
    );
    app.stop().await;
}
crate::db_test!(dispatches_go_through_the_engine);

async fn filters_narrow_the_board_and_my_work(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, road) = request(&app, "道路破损", "R01.02", true).await;
    let (_, unplaced) = request(&app, "地点不详", "R01.02", false).await;
    let (_, other) = request(&app, "其他类别", "R02", true).await;
    let (dispatcher, _) = session(&app, "d1.dispatcher").await;

    let (_, html) = page(&dispatcher, &app, "/dispatch?category=R01").await;
    let registered = section(&html, "registered");
    assert!(registered.contains(&road) && registered.contains(&unplaced));
    assert!(!registered.contains(&other), "R02 is not under R01");
    let s1 = app.unit("S1");
    let (_, html) = page(&dispatcher, &app, &format!("/dispatch?area={s1}")).await;
    let registered = section(&html, "registered");
    assert!(registered.contains(&road) && registered.contains(&other));
    assert!(!registered.contains(&unplaced), "no place, no area");
    let (_, html) = page(&dispatcher, &app, "/dispatch?q=%E9%81%93%E8%B7%AF").await;
    let registered = section(&html, "registered");
    assert!(registered.contains(&road) && !registered.contains(&other));

    let tz = app.state.calendar.tz();
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let tomorrow = today + chrono::Days::new(1);
    let (_, html) = page(
        &dispatcher,
        &app,
        &format!("/dispatch?created_from={tomorrow}"),
    )
    .await;
    assert!(!html.contains(&road));
    let (_, html) = page(
        &dispatcher,
        &app,
        &format!("/dispatch?created_from={today}&created_before={tomorrow}"),
    )
    .await;
    assert!(html.contains(&road) && html.contains(&other));

    // Bad values: a 400 naming the field, nothing listed.
    let s2 = app.unit("S2");
    for (path, field) in [
        (
            "/dispatch?created_from=2026-13-01".to_string(),
            "受理日期自",
        ),
        (
            "/dispatch?created_before=yesterday".to_string(),
            "受理日期早于",
        ),
        (format!("/dispatch?area={s2}"), "区域"),
        ("/dispatch?category=ZZ9".to_string(), "类别"),
        (
            format!("/dispatch?created_from={tomorrow}&created_before={today}"),
            "受理日期早于",
        ),
        ("/work?created_from=2026-02-30".to_string(), "受理日期自"),
    ] {
        let (status, html) = page(&dispatcher, &app, &path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        let start = html.find("id=\"filter-error\"").expect("error shown");
        assert!(
            html[start..].starts_with(&format!("id=\"filter-error\">{field}")),
            "{path}: {}",
            &html[start..start + 200]
        );
        assert!(!html.contains(&road), "{path}");
    }

    // The same filters on my work.
    let (operator, _) = session(&app, "d1.operator").await;
    let (status, html) = page(&operator, &app, &format!("/work?area={s1}&category=R01")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&road) && !html.contains(&unplaced) && !html.contains(&other));
    let (_, html) = page(&operator, &app, &format!("/work?created_before={today}")).await;
    assert!(!html.contains(&road));
    app.stop().await;
}
crate::db_test!(filters_narrow_the_board_and_my_work);

async fn assist_tasks_are_listed_and_reported(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, code) = request(&app, "地下管线渗水", "R01.02", true).await;
    ok(
        &app,
        &id,
        "d1.dispatcher",
        json!({"action": "dispatch", "target_unit": app.unit("D1-CG")}),
    )
    .await;
    ok(&app, &id, "cg.handler", json!({"action": "accept"})).await;
    ok(
        &app,
        &id,
        "d1.dispatcher",
        json!({"action": "add_assist", "target_unit": app.unit("CG"),
        "fields": {"assist_task": "调查地下管线"}}),
    )
    .await;

    let (city, csrf) = session(&app, "citycg.handler").await;
    let (status, html) = page(&city, &app, "/assists").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"nav-assists\""));
    let open = &html[html.find("id=\"assists-open\"").expect("open tasks")..];
    assert!(open.contains(&code) && open.contains("调查地下管线") && open.contains("一区城管局"));
    assert!(open.contains("协办中"));
    // Others' tasks are not listed; without a handler role, no page.
    let (d2, _) = session(&app, "d2.handler").await;
    let (_, html) = page(&d2, &app, "/assists").await;
    assert!(!html.contains(&code));
    let (operator, _) = session(&app, "d1.operator").await;
    assert_eq!(
        page(&operator, &app, "/assists").await.0,
        StatusCode::NOT_FOUND
    );

    let version = case_state(&app, &id).await.2.to_string();
    let report = |result: &'static str, token: String, version: String| {
        let city = city.clone();
        let id = id.clone();
        let url = app.url("/assists/report");
        async move {
            city.post(url)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("case", id.as_str()),
                    ("version", version.as_str()),
                    ("result", result),
                ])
                .send()
                .await
                .expect("post")
        }
    };
    // Forged: refused. Empty result: refused, naming the field.
    let r = report("管线正常", "forged".into(), version.clone()).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = report("", csrf.clone(), version.clone()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let flash = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gz_flash=") && c.contains("Path=/assists;"))
        .and_then(|c| c.split(';').next())
        .expect("result kept for the assists page")
        .to_string();
    let html = reqwest::Client::new()
        .get(app.url("/assists"))
        .header(
            "cookie",
            format!("gz_session=test-session-citycg.handler; {flash}"),
        )
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let start = html.find("id=\"assists-result\"").expect("result shown");
    assert!(
        html[start..].contains("请填写：协办结果"),
        "{}",
        &html[start..]
    );
    let assists = app.db.assists_of(&id).await.expect("assists");
    assert_eq!(assists[0].status, "open");
    let r = report("管线正常，已处置", csrf.clone(), version.clone()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/assists");
    let assists = app.db.assists_of(&id).await.expect("assists");
    assert_eq!(
        (assists[0].status.as_str(), assists[0].result.as_deref()),
        ("answered", Some("管线正常，已处置"))
    );
    let last = app.db.timeline(&id).await.expect("t").pop().expect("entry");
    assert_eq!(last.action, "report_assist");
    let (_, html) = page(&city, &app, "/assists").await;
    let closed = &html[html.find("id=\"assists-closed\"").expect("closed tasks")..];
    assert!(closed.contains(&code) && closed.contains("已反馈"));

    // The case page lists the case's assist tasks and their state.
    let (dispatcher, _) = session(&app, "d1.dispatcher").await;
    let (_, html) = page(&dispatcher, &app, &format!("/cases/{id}")).await;
    let part = &html[html
        .find("id=\"case-assists\"")
        .expect("assists on the case page")..];
    assert!(part.contains("市城管局") && part.contains("调查地下管线") && part.contains("已反馈"));
    app.stop().await;
}
crate::db_test!(assist_tasks_are_listed_and_reported);
