//! Links between cases: a dispatcher links two reports of one matter, both
//! cases show the link from their own end and carry it in their logs; the
//! same link twice, a link to itself or to a case out of scope is refused;
//! a mistaken link is removed with its reason; voiding a duplicate links it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, spawn_app};

async fn links(app: &TestApp, case: &str, user: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/cases/{case}/links"), user).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["links"].as_array().cloned().unwrap_or_default()
}

async fn receipt(app: &TestApp, case: &str) -> String {
    app.db
        .case_unscoped(case)
        .await
        .expect("case")
        .expect("exists")
        .receipt_code
}

async fn log_actions(app: &TestApp, case: &str) -> Vec<String> {
    app.db
        .timeline(case)
        .await
        .expect("timeline")
        .into_iter()
        .map(|e| e.action)
        .collect()
}

async fn a_dispatcher_links_two_cases_and_both_ends_see_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.create_request("小区门口积水").await;
    let later = app.create_request("小区门口又积水了").await;
    let first_code = receipt(&app, &first).await;

    let path = format!("/api/v1/cases/{later}/links");
    let r = app
        .post(
            &path,
            "d1.dispatcher",
            json!({"kind": "related", "case": first_code.to_lowercase(), "note": "同一处积水"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let link_id = r.body["id"].as_str().expect("id").to_string();

    // Both ends list the one link, each naming the other case.
    let from_later = links(&app, &later, "d1.dispatcher").await;
    let from_first = links(&app, &first, "d1.dispatcher").await;
    assert_eq!((from_later.len(), from_first.len()), (1, 1));
    assert_eq!(from_later[0]["other"]["receipt_code"], first_code.as_str());
    assert_eq!(from_first[0]["other"]["id"], later.as_str());
    assert_eq!(from_first[0]["kind"], "related");
    assert_eq!(from_later[0]["note"], "同一处积水");
    // Written into both logs; the note stays out of them.
    for case in [&first, &later] {
        assert!(
            log_actions(&app, case)
                .await
                .contains(&"link.add".to_string())
        );
    }
    let entries = app.db.timeline(&later).await.expect("timeline");
    let entry = entries
        .iter()
        .find(|e| e.action == "link.add")
        .expect("entry");
    assert!(
        !serde_json::to_string(&entry.changes)
            .expect("json")
            .contains("同一处积水")
    );

    // The same pair again, from either end, is one related link.
    let again = app
        .post(
            &format!("/api/v1/cases/{first}/links"),
            "d1.dispatcher",
            json!({"kind": "related", "case": later}),
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "conflict")
    );
    // A case cannot be linked to itself; an unknown kind names its field.
    let own = app
        .post(
            &path,
            "d1.dispatcher",
            json!({"kind": "referral", "case": later}),
        )
        .await;
    assert_eq!(
        (own.status, own.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("case"))
    );
    let odd = app
        .post(
            &path,
            "d1.dispatcher",
            json!({"kind": "sibling", "case": first}),
        )
        .await;
    assert_eq!(
        (odd.status, odd.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("kind"))
    );

    // Another district cannot see the cases, so cannot list or make links to them.
    let r = app.get(&path, "d2.dispatcher").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let theirs = app.create_request("另一处积水").await;
    let r = app
        .post(
            &path,
            "d1.dispatcher",
            json!({"kind": "related", "case": theirs}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "same district: {:?}", r.body);

    // A mistaken link is removed with a reason, from both ends, and logged.
    let remove = format!("/api/v1/cases/{first}/links/{link_id}/remove");
    let r = app
        .post(&remove, "d1.dispatcher", json!({"reason": "  "}))
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
    );
    let r = app
        .post(&remove, "d1.dispatcher", json!({"reason": "并非同一处"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(links(&app, &first, "d1.dispatcher").await.is_empty());
    assert_eq!(
        links(&app, &later, "d1.dispatcher").await.len(),
        1,
        "the other link stays"
    );
    assert!(
        log_actions(&app, &later)
            .await
            .contains(&"link.remove".to_string())
    );
    let r = app
        .post(&remove, "d1.dispatcher", json!({"reason": "again"}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    app.stop().await;
}
crate::db_test!(a_dispatcher_links_two_cases_and_both_ends_see_it);

async fn a_link_never_names_a_case_out_of_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let ours = app.create_request("路灯不亮").await;
    // A case in the neighbouring district, which D1 cannot see.
    let r = app
        .post(
            "/api/v1/cases",
            "d2.operator",
            json!({"pack": "requests", "case_type": "request", "lng": 113.3, "lat": 28.05,
                   "fields": {"title": "路灯不亮（邻区）", "channel": "hotline"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let theirs = r.body["id"].as_str().expect("id").to_string();
    let their_code = receipt(&app, &theirs).await;
    // D1 cannot reach it, by id or by receipt code.
    for reference in [theirs.as_str(), their_code.as_str()] {
        let r = app
            .post(
                &format!("/api/v1/cases/{ours}/links"),
                "d1.dispatcher",
                json!({"kind": "related", "case": reference}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("case"))
        );
    }
    // The city sees both and links them; D1 then sees that a link exists, not the case.
    let r = app
        .post(
            &format!("/api/v1/cases/{ours}/links"),
            "city.dispatcher",
            json!({"kind": "referral", "case": their_code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let seen = links(&app, &ours, "d1.dispatcher").await;
    assert_eq!(seen.len(), 1);
    assert!(seen[0]["other"].is_null(), "{:?}", seen[0]);
    assert_eq!(
        (seen[0]["kind"].as_str(), seen[0]["end"].as_str()),
        (Some("referral"), Some("source"))
    );
    let (browser, _) = crate::pages::session(&app, "d1.dispatcher").await;
    let page = browser
        .get(app.url(&format!("/cases/{ours}")))
        .send()
        .await
        .expect("page");
    let html = page.text().await.expect("html");
    assert!(
        html.contains("id=\"case-links\""),
        "the case page has its links section"
    );
    assert!(
        !html.contains(&their_code),
        "the page never names the other district's case"
    );
    let from_city = links(&app, &theirs, "city.dispatcher").await;
    assert_eq!(from_city[0]["other"]["id"], ours.as_str());
    assert_eq!(from_city[0]["end"], "target");
    app.stop().await;
}
crate::db_test!(a_link_never_names_a_case_out_of_scope);

async fn voiding_a_duplicate_links_it_to_its_original(backend: Backend) {
    let app = spawn_app(backend).await;
    let original = app.create_request("井盖缺失").await;
    let code = receipt(&app, &original).await;
    let dup = app.create_request("井盖缺失（重复来电）").await;
    let r = app
        .act(
            &dup,
            "d1.dispatcher",
            json!({"action": "void", "reason": "重复件", "fields": {"duplicate_of": code}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let from_dup = links(&app, &dup, "d1.dispatcher").await;
    assert_eq!(from_dup.len(), 1);
    assert_eq!(
        (from_dup[0]["kind"].as_str(), from_dup[0]["end"].as_str()),
        (Some("duplicate"), Some("source"))
    );
    let from_original = links(&app, &original, "d1.dispatcher").await;
    assert_eq!(from_original[0]["end"], "target");
    app.stop().await;
}
crate::db_test!(voiding_a_duplicate_links_it_to_its_original);

async fn the_case_page_links_and_unlinks(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.create_request("噪音扰民").await;
    let second = app.create_request("噪音扰民（又一次）").await;
    let code = receipt(&app, &first).await;
    let (browser, csrf) = crate::pages::session(&app, "d1.dispatcher").await;
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let browser = browser.clone();
        let url = app.url(&path);
        async move { browser.post(url).form(&form).send().await.expect("post") }
    };
    // A receipt code nobody has: the page comes back saying so.
    let r = post(
        format!("/cases/{second}/links"),
        vec![
            ("csrf_token", csrf.clone()),
            ("kind", "duplicate".into()),
            ("case", "NOPE-0000".into()),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("html").contains("id=\"link-error\""));
    let r = post(
        format!("/cases/{second}/links"),
        vec![
            ("csrf_token", csrf.clone()),
            ("kind", "duplicate".into()),
            ("case", code.clone()),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = browser
        .get(app.url(&format!("/cases/{first}")))
        .send()
        .await
        .expect("page");
    let html = page.text().await.expect("html");
    assert!(
        html.contains("被重复"),
        "the original reads the link from its end"
    );
    let timeline = app.db.timeline(&first).await.expect("timeline");
    assert!(timeline.iter().any(|e| e.action == "link.add"));
    assert!(
        html.contains("关联案件"),
        "the log's link entry has a name, not an id"
    );
    let link = links(&app, &first, "d1.dispatcher").await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = post(
        format!("/cases/{first}/links/{link}/remove"),
        vec![("csrf_token", csrf.clone()), ("reason", "看错了".into())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(links(&app, &second, "d1.dispatcher").await.is_empty());
    // A forged form changes nothing.
    let r = post(
        format!("/cases/{second}/links"),
        vec![
            ("csrf_token", "forged".into()),
            ("kind", "related".into()),
            ("case", code),
        ],
    )
    .await;
    assert_ne!(r.status(), StatusCode::SEE_OTHER);
    assert!(links(&app, &second, "d1.dispatcher").await.is_empty());
    app.stop().await;
}
crate::db_test!(the_case_page_links_and_unlinks);
