//! The admin pages (issue 4): who may open them, units and the GeoJSON grid
//! import job, users and roles within scope, category and routing revisions
//! taking effect without a restart, and every change in the log.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, spawn_app, square};
use crate::pages::{FORM_TOKEN, anonymous, location, session, visitor};

async fn get(client: &reqwest::Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = client.get(app.url(path)).send().await.expect("get");
    (r.status(), r.text().await.expect("text"))
}

async fn post(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .expect("post")
}

/// The admin entries of the log: (action, actor id, changes).
async fn admin_log(app: &TestApp) -> Vec<(String, Option<String>, String)> {
    app.db
        .log_entries(0, 100_000)
        .await
        .expect("log")
        .into_iter()
        .map(|(e, _)| e)
        .filter(|e| e.action.starts_with("admin."))
        .map(|e| {
            assert!(e.case_id.starts_with("admin:"), "{}", e.case_id);
            (e.action, e.actor_id, e.changes)
        })
        .collect()
}

async fn user_id(app: &TestApp, name: &str) -> String {
    app.db
        .user_by_username(name)
        .await
        .expect("user")
        .expect("exists")
        .id
}

fn feature(code: &str, parent: &str, geometry: Value) -> Value {
    json!({"type": "Feature", "properties": {"name": format!("网格{code}"), "code": code, "parent": parent},
           "geometry": geometry})
}

fn upload(csrf: &str, text: String) -> Form {
    Form::new()
        .text("csrf_token", csrf.to_string())
        .text("parent", "")
        .part(
            "geojson",
            Part::bytes(text.into_bytes()).file_name("grids.geojson"),
        )
}

async fn access_and_units(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, csrf) = session(&app, "city.admin").await;
    let (d1_admin, d1_csrf) = session(&app, "d1.admin").await;
    let (dispatcher, _) = session(&app, "d1.dispatcher").await;

    // Only administrators open the pages; others are refused, strangers sent to log in.
    for path in ["/admin", "/admin/units", "/admin/users", "/admin/taxonomy"] {
        let (status, html) = get(&dispatcher, &app, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!html.contains("id=\"nav-admin\""));
        let r = anonymous().get(app.url(path)).send().await.expect("get");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(location(&r).starts_with("/login"));
    }
    let r = admin.get(app.url("/admin")).send().await.expect("get");
    assert_eq!(location(&r), "/admin/units");
    let (status, html) = get(&admin, &app, "/admin/units").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"nav-admin\""));
    assert!(html.contains("id=\"unit-C\"") && html.contains("id=\"unit-G2b\""));
    // A district admin sees only their district.
    let (_, html) = get(&d1_admin, &app, "/admin/units").await;
    assert!(html.contains("id=\"unit-D1\"") && html.contains("id=\"unit-G1a\""));
    assert!(!html.contains("id=\"unit-D2\"") && !html.contains("id=\"unit-C\""));

    // Create a grid under a community.
    let m1 = app.unit("M1");
    let r = post(
        &d1_admin,
        &app,
        "/admin/units",
        &[
            ("csrf_token", &d1_csrf),
            ("parent_id", &m1),
            ("kind", "grid"),
            ("code", "G1c"),
            ("name", "一网格东"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin/units?done=unit_created");
    let g1c = app
        .db
        .unit_by_code("G1c")
        .await
        .expect("unit")
        .expect("created");
    assert_eq!(g1c.name, "一网格东");
    assert!(g1c.path.starts_with(&format!("/{}/", app.unit("C"))));

    // Outside the district, a bad kind, a taken code, an empty name: refused, nothing made.
    let before = app.db.unit_count().await.expect("count");
    let m2 = app.unit("M2");
    for (parent, kind, code, name, says) in [
        (m2.as_str(), "grid", "G2c", "二网格东", "上级单位"),
        (m1.as_str(), "city", "X1", "某市", "类型"),
        (m1.as_str(), "district", "X2", "某区", "类型"),
        (m1.as_str(), "grid", "G1a", "重复", "代码"),
        (m1.as_str(), "grid", "G1d", " ", "名称"),
    ] {
        let r = post(
            &d1_admin,
            &app,
            "/admin/units",
            &[
                ("csrf_token", &d1_csrf),
                ("parent_id", parent),
                ("kind", kind),
                ("code", code),
                ("name", name),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{code}");
        let html = r.text().await.expect("text");
        assert!(html.contains("id=\"admin-errors\""), "{html}");
        assert!(html.contains(says), "{code}: {html}");
    }
    assert_eq!(app.db.unit_count().await.expect("count"), before);

    // Rename; the city admin may rename anything, the district admin not D2.
    let r = post(
        &admin,
        &app,
        "/admin/units/rename",
        &[
            ("csrf_token", &csrf),
            ("unit_id", &g1c.id),
            ("name", "一网格东区"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/admin/units?done=unit_renamed");
    let renamed = app.db.unit(&g1c.id).await.expect("u").expect("unit");
    assert_eq!(renamed.name, "一网格东区");
    assert_eq!(
        app.state.places().unit(&g1c.id).map(|u| u.name.clone()),
        Some("一网格东区".to_string()),
        "the running server sees the new name"
    );
    let d2 = app.unit("D2");
    let r = post(
        &d1_admin,
        &app,
        "/admin/units/rename",
        &[("csrf_token", &d1_csrf), ("unit_id", &d2), ("name", "被改")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.db.unit(&d2).await.expect("u").expect("unit").name,
        "二区"
    );

    // A forged post (no token, or another session's) changes nothing.
    for token in ["", "forged", csrf.as_str()] {
        let r = post(
            &d1_admin,
            &app,
            "/admin/units",
            &[
                ("csrf_token", token),
                ("parent_id", &m1),
                ("kind", "grid"),
                ("code", "G1f"),
                ("name", "伪造"),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = post(
            &d1_admin,
            &app,
            "/admin/units/rename",
            &[
                ("csrf_token", token),
                ("unit_id", &g1c.id),
                ("name", "伪造"),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    assert!(app.db.unit_by_code("G1f").await.expect("u").is_none());
    assert_eq!(
        app.db.unit(&g1c.id).await.expect("u").expect("unit").name,
        "一网格东区"
    );

    // Both changes are in the log, by their authors.
    let log = admin_log(&app).await;
    let actions: Vec<&str> = log.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(actions, ["admin.unit.create", "admin.unit.rename"]);
    assert_eq!(log[0].1, Some(user_id(&app, "d1.admin").await));
    assert!(log[1].2.contains("一网格东区") && log[1].2.contains("一网格东"));
}
crate::db_test!(access_and_units);

async fn wait_for_job(client: &reqwest::Client, app: &TestApp, job: &str) -> Value {
    for _ in 0..200 {
        let r = client
            .get(app.url(&format!("{job}/status")))
            .send()
            .await
            .expect("status");
        assert_eq!(r.status(), StatusCode::OK);
        let status: Value = r.json().await.expect("json");
        if status["state"] != "running" {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job still running after 10 s");
}

async fn grid_import(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, csrf) = session(&app, "city.admin").await;
    let (d1_admin, d1_csrf) = session(&app, "d1.admin").await;
    let before = app.db.unit_count().await.expect("count");

    // Not GeoJSON: refused on the spot with the reason, nothing changed.
    for text in [
        "not json".to_string(),
        json!({"type": "Feature"}).to_string(),
        json!({"type": "FeatureCollection", "features": [
            feature("N1", "M1", json!({"type": "Point", "coordinates": [113.0, 28.0]}))]})
        .to_string(),
    ] {
        let r = admin
            .post(app.url("/admin/grids/import"))
            .multipart(upload(&csrf, text))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.expect("text");
        assert!(html.contains("GeoJSON 文件："), "{html}");
    }
    assert_eq!(app.db.unit_count().await.expect("count"), before);

    // Over the size limit (32 MiB): refused with the limit named.
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(32 * 1024 * 1024 + 1024));
    let r = admin
        .post(app.url("/admin/grids/import"))
        .multipart(upload(&csrf, huge))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().await.expect("text").contains("32 MB"));
    assert_eq!(app.db.unit_count().await.expect("count"), before);

    // Good GeoJSON whose parent does not take grids: the job runs and is refused.
    let text = json!({"type": "FeatureCollection", "features": [
        feature("N1", "M1", square(113.0, 28.0, 113.05, 28.05)),
        feature("N2", "S1", square(113.05, 28.0, 113.1, 28.05)),
    ]})
    .to_string();
    let r = admin
        .post(app.url("/admin/grids/import"))
        .multipart(upload(&csrf, text))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let job = location(&r);
    let status = wait_for_job(&admin, &app, &job).await;
    assert_eq!(status["state"], "failed", "{status}");
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("feature 1")),
        "{status}"
    );
    let (_, html) = get(&admin, &app, &job).await;
    assert!(html.contains("id=\"job-error\""), "{html}");
    assert_eq!(app.db.unit_count().await.expect("count"), before);

    // A district admin may not import into another district.
    let text = json!({"type": "FeatureCollection", "features": [
        feature("N3", "M2", square(113.3, 28.0, 113.35, 28.05))]})
    .to_string();
    let r = d1_admin
        .post(app.url("/admin/grids/import"))
        .multipart(upload(&d1_csrf, text.clone()))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("text").contains("M2"));
    // Nor without the form's token.
    let r = admin
        .post(app.url("/admin/grids/import"))
        .multipart(upload("forged", text))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.db.unit_count().await.expect("count"), before);

    // The good file: the job completes, the grids exist and are located at once.
    let text = json!({"type": "FeatureCollection", "features": [
        feature("N1", "M1", square(113.0, 28.0, 113.05, 28.05)),
        feature("N2", "M2", square(113.3, 28.0, 113.35, 28.05)),
    ]})
    .to_string();
    let r = admin
        .post(app.url("/admin/grids/import"))
        .multipart(upload(&csrf, text))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let job = location(&r);
    assert!(job.starts_with("/admin/jobs/"), "{job}");
    let (status_code, html) = get(&admin, &app, &job).await;
    assert_eq!(status_code, StatusCode::OK);
    assert!(html.contains("<progress id=\"job-progress\""), "{html}");
    let status = wait_for_job(&admin, &app, &job).await;
    assert_eq!(status["state"], "done", "{status}");
    assert_eq!(status["percent"], 100);
    assert_eq!(status["message"], "2");
    let (_, html) = get(&admin, &app, &job).await;
    assert!(html.contains("id=\"job-count\">2<"), "{html}");
    assert!(
        !html.contains("http-equiv=\"refresh\""),
        "no refresh once done"
    );
    assert_eq!(app.db.unit_count().await.expect("count"), before + 2);
    let n1 = app.db.unit_by_code("N1").await.expect("u").expect("grid");
    assert!(n1.geometry.is_some());
    // The running server knows the new grids.
    assert!(app.state.places().unit_by_code("N2").is_some());
    // Someone else's job does not exist for them.
    let r = d1_admin
        .get(app.url(&format!("{job}/status")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let log = admin_log(&app).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].0, "admin.grid.import");
    assert!(log[0].2.contains("\"count\":2"));
}
crate::db_test!(grid_import);

/// Logs in through the login form; `true` when a session was made.
async fn can_log_in(app: &TestApp, username: &str, password: &str) -> bool {
    let r = post(
        &visitor(),
        app,
        "/login",
        &[
            ("username", username),
            ("password", password),
            ("form_token", FORM_TOKEN),
        ],
    )
    .await;
    r.status() == StatusCode::SEE_OTHER
}

async fn users_and_roles(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, csrf) = session(&app, "city.admin").await;
    let (d1_admin, d1_csrf) = session(&app, "d1.admin").await;
    let d1 = app.unit("D1");
    let s1 = app.unit("S1");

    // The list shows the users with a role in scope.
    let (_, html) = get(&d1_admin, &app, "/admin/users").await;
    assert!(html.contains("id=\"user-d1.handler\""));
    assert!(!html.contains("id=\"user-d2.handler\"") && !html.contains("id=\"user-city.admin\""));

    // Create a user in the district; the password is hashed, and works.
    let create = |name: &'static str, unit: String, role: &'static str, password: &'static str| {
        let csrf = d1_csrf.clone();
        let (client, app) = (&d1_admin, &app);
        async move {
            post(
                client,
                app,
                "/admin/users",
                &[
                    ("csrf_token", &csrf),
                    ("username", name),
                    ("display_name", "新承办人"),
                    ("password", password),
                    ("role", role),
                    ("unit_id", &unit),
                ],
            )
            .await
        }
    };
    let r = create("new.handler", app.unit("D1-CG"), "handler", "first-pass-1").await;
    assert_eq!(location(&r), "/admin/users?done=user_created");
    assert!(can_log_in(&app, "new.handler", "first-pass-1").await);
    let id = user_id(&app, "new.handler").await;

    // Refused: a unit outside the district, the city (above their scope), a
    // short password, a bad or taken username. Nothing is made.
    for (name, unit, password, says) in [
        ("x.out", app.unit("D2"), "long-enough-1", "单位"),
        ("x.up", app.unit("C"), "long-enough-1", "单位"),
        ("x.short", d1.clone(), "short", "密码"),
        ("Bad Name", d1.clone(), "long-enough-1", "用户名"),
        ("d1.handler", d1.clone(), "long-enough-1", "用户名"),
    ] {
        let r = create(name, unit, "handler", password).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let html = r.text().await.expect("text");
        assert!(html.contains(says), "{name}: {html}");
        assert!(
            !html.contains(password) || password == "short",
            "no password echoed"
        );
    }
    assert!(app.db.user_by_username("x.out").await.expect("u").is_none());
    assert!(app.db.user_by_username("x.up").await.expect("u").is_none());

    // Grant a role at a street, refuse one at the city, revoke, keep the last.
    let change = |op: &'static str, fields: Vec<(&'static str, String)>| {
        let csrf = d1_csrf.clone();
        let id = id.clone();
        let (client, app) = (&d1_admin, &app);
        async move {
            let mut form: Vec<(&str, String)> = vec![("csrf_token", csrf)];
            form.extend(fields);
            client
                .post(app.url(&format!("/admin/users/{id}/{op}")))
                .form(&form)
                .send()
                .await
                .expect("post")
        }
    };
    let r = change(
        "grant",
        vec![("role", "dispatcher".into()), ("unit_id", s1.clone())],
    )
    .await;
    assert_eq!(location(&r), format!("/admin/users/{id}?done=role_granted"));
    let r = change(
        "grant",
        vec![("role", "admin".into()), ("unit_id", app.unit("C"))],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let actor = app.db.actor(&id).await.expect("a").expect("actor");
    assert_eq!(actor.assignments.len(), 2);
    assert!(!actor.has_role(gongzhi_domain::role::Role::ADMIN));
    let r = change(
        "revoke",
        vec![("role", "dispatcher".into()), ("unit_id", s1.clone())],
    )
    .await;
    assert_eq!(location(&r), format!("/admin/users/{id}?done=role_revoked"));
    let r = change(
        "revoke",
        vec![("role", "handler".into()), ("unit_id", app.unit("D1-CG"))],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.db
            .actor(&id)
            .await
            .expect("a")
            .expect("actor")
            .assignments
            .len(),
        1
    );

    // Reset the password: the new one works, the old one no longer.
    let r = change("password", vec![("password", "second-pass-2".into())]).await;
    assert_eq!(
        location(&r),
        format!("/admin/users/{id}?done=password_reset")
    );
    assert!(!can_log_in(&app, "new.handler", "first-pass-1").await);
    assert!(can_log_in(&app, "new.handler", "second-pass-2").await);

    // Disabled: no login, and an open session ends. Enabled again: login works.
    let (session_client, _) = session(&app, "new.handler").await;
    let r = change("disable", vec![]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!can_log_in(&app, "new.handler", "second-pass-2").await);
    let r = session_client
        .get(app.url("/work"))
        .send()
        .await
        .expect("get");
    assert!(location(&r).starts_with("/login"));
    let r = change("enable", vec![]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(can_log_in(&app, "new.handler", "second-pass-2").await);

    // A forged change does nothing.
    let r = d1_admin
        .post(app.url(&format!("/admin/users/{id}/disable")))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(can_log_in(&app, "new.handler", "second-pass-2").await);

    // Out of scope: the city admin does not exist for a district admin; a
    // district admin may not disable themself.
    let city_admin = user_id(&app, "city.admin").await;
    let r = post(
        &d1_admin,
        &app,
        &format!("/admin/users/{city_admin}/disable"),
        &[("csrf_token", &d1_csrf)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (status, _) = get(&d1_admin, &app, &format!("/admin/users/{city_admin}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let me = user_id(&app, "d1.admin").await;
    let r = post(
        &d1_admin,
        &app,
        &format!("/admin/users/{me}/disable"),
        &[("csrf_token", &d1_csrf)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // The city admin sees the new user's page with its forms.
    let (status, html) = get(&admin, &app, &format!("/admin/users/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"user-grant\"") && html.contains(&csrf));

    // Every change is logged; no password (nor its hash) enters the log.
    let log = admin_log(&app).await;
    let actions: Vec<&str> = log.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "admin.user.create",
            "admin.role.grant",
            "admin.role.revoke",
            "admin.user.password_reset",
            "admin.user.disable",
            "admin.user.enable",
        ]
    );
    for (_, _, changes) in &log {
        assert!(
            !changes.contains("pass") && !changes.contains("argon2"),
            "{changes}"
        );
    }
}
crate::db_test!(users_and_roles);

async fn taxonomy_revisions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, csrf) = session(&app, "city.admin").await;
    let (d1_admin, d1_csrf) = session(&app, "d1.admin").await;
    let route = |app: &TestApp| {
        gongzhi_web::intake::suggest_route(&app.state, Some("R01.02"), "", Some(113.1), Some(28.05))
            .unit_code
    };
    assert_eq!(route(&app).as_deref(), Some("D1-CG"));

    // A district admin may look, not change.
    let (status, html) = get(&d1_admin, &app, "/admin/taxonomy").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"taxonomy-readonly\"") && !html.contains("id=\"rule-form\""));
    let rule = |csrf: String, lead: &'static str| {
        vec![
            ("csrf_token", csrf),
            ("id", "admin_municipal_d1".to_string()),
            ("category", "R01.02".to_string()),
            ("area", "D1".to_string()),
            ("lead", lead.to_string()),
            ("note_zh", "市政设施归市城管局".to_string()),
        ]
    };
    let r = d1_admin
        .post(app.url("/admin/taxonomy/rule"))
        .form(&rule(d1_csrf.clone(), "CG"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Forged, and naming a unit that does not exist: nothing changes.
    let r = admin
        .post(app.url("/admin/taxonomy/rule"))
        .form(&rule("forged".into(), "CG"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = admin
        .post(app.url("/admin/taxonomy/rule"))
        .form(&rule(csrf.clone(), "NO-SUCH"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("text").contains("NO-SUCH"));
    assert_eq!(route(&app).as_deref(), Some("D1-CG"));
    assert_eq!(app.state.taxonomies().revision, 0);

    // The rule is saved and routes the next request at once.
    let r = admin
        .post(app.url("/admin/taxonomy/rule"))
        .form(&rule(csrf.clone(), "CG"))
        .send()
        .await
        .expect("post");
    assert_eq!(location(&r), "/admin/taxonomy?done=rule_saved");
    assert_eq!(route(&app).as_deref(), Some("CG"));
    assert_eq!(app.state.taxonomies().revision, 1);
    // The intake preview says so too.
    let (op, op_csrf) = session(&app, "d1.operator").await;
    let html = op
        .post(app.url("/intake"))
        .form(&[
            ("csrf_token", op_csrf.as_str()),
            ("op", "preview"),
            ("category", "R01.02"),
            ("title", "路灯不亮"),
            ("lat", "28.05"),
            ("lng", "113.1"),
        ])
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("text");
    assert!(
        html.contains("admin_municipal_d1") && html.contains("市城管局"),
        "{html}"
    );

    // Add a category, rename its English name; a shipped Chinese name stays.
    let category = |fields: &[(&'static str, &'static str)]| {
        let mut form: Vec<(&str, String)> = vec![("csrf_token", csrf.clone())];
        form.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
        admin
            .post(app.url("/admin/taxonomy/category"))
            .form(&form)
            .send()
    };
    let r = category(&[
        ("op", "add"),
        ("code", "R01.99"),
        ("name_zh", "共享单车"),
        ("name_en", "Shared bikes"),
        ("urgency", "urgent"),
    ])
    .await
    .expect("post");
    assert_eq!(location(&r), "/admin/taxonomy?done=category_saved");
    let r = category(&[
        ("op", "rename"),
        ("code", "R01.99"),
        ("name_en", "Dockless bikes"),
    ])
    .await
    .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = category(&[("op", "rename"), ("code", "R01"), ("name_zh", "改名")])
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = category(&[("op", "add"), ("code", "R01.99"), ("name_zh", "重复")])
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = category(&[("op", "add"), ("code", "Q9.01"), ("name_zh", "无上级")])
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A shipped category's English name, changed twice: one override row.
    for en in ["Construction", "Urban construction"] {
        let r = category(&[("op", "rename"), ("code", "R01"), ("name_en", en)])
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let tax = app.state.taxonomies();
    assert_eq!(tax.revision, 5);
    assert_eq!(
        tax.categories.get("R01").map(|c| c.name.en.as_str()),
        Some("Urban construction")
    );
    assert_eq!(
        tax.layer
            .categories
            .iter()
            .filter(|r| r.code == "R01")
            .count(),
        1
    );
    let added = tax.categories.get("R01.99").expect("added");
    assert_eq!(
        (added.name.zh.as_str(), added.name.en.as_str()),
        ("共享单车", "Dockless bikes")
    );
    assert_eq!(
        tax.categories.get("R01").map(|c| c.name.zh.as_str()),
        Some("城乡建设")
    );
    // Cases may be filed under it, and its rule (R01.99 is under R01.02? no:
    // R01) routes as before.
    let (_, html) = get(&admin, &app, "/admin/taxonomy").await;
    assert!(html.contains("R01.99") && html.contains("id=\"rule-admin_municipal_d1\""));

    // A server started afresh on the same database loads the newest revision.
    let base = gongzhi_web::state::taxonomy::Taxonomies::load(&tax.extensions).expect("base");
    let restarted = gongzhi_web::AppState::new(
        app.db.clone(),
        crate::harness::test_packs(),
        gongzhi_domain::calendar::WorkCalendar::builtin(),
        base,
        gongzhi_web::ServerConfig::default(),
    )
    .await
    .expect("state");
    let reloaded = restarted.taxonomies();
    assert_eq!(reloaded.revision, 5);
    assert!(reloaded.categories.get("R01.99").is_some());
    assert_eq!(
        gongzhi_web::intake::suggest_route(
            &restarted,
            Some("R01.02"),
            "",
            Some(113.1),
            Some(28.05)
        )
        .unit_code
        .as_deref(),
        Some("CG")
    );

    let log = admin_log(&app).await;
    let actions: Vec<&str> = log.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "admin.rule.save",
            "admin.category.add",
            "admin.category.rename",
            "admin.category.rename",
            "admin.category.rename"
        ]
    );
}
crate::db_test!(taxonomy_revisions);

/// Admin entries are in the log but in no case's timeline, and the
/// indicators count the same cases as before.
async fn admin_entries_stay_out_of_cases(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .post(
            "/api/v1/cases",
            "d1.operator",
            json!({"pack": "requests", "case_type": "request", "lng": 113.1, "lat": 28.05,
                   "fields": {"title": "路灯不亮", "category": "R01", "channel": "hotline",
                              "contact_phone": "13912345678"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let case_id = r.body["id"].as_str().expect("id").to_string();
    let timeline_before = app.db.timeline(&case_id).await.expect("timeline").len();
    let before = app.get("/api/v1/indicators", "d1.supervisor").await;

    let (admin, csrf) = session(&app, "city.admin").await;
    let r = post(
        &admin,
        &app,
        "/admin/units/rename",
        &[
            ("csrf_token", &csrf),
            ("unit_id", &app.unit("D1")),
            ("name", "一区新名"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // A unit made through the API is logged the same way.
    let r = app
        .post(
            "/api/v1/units",
            "d1.admin",
            json!({"parent_id": app.unit("M1"), "kind": "grid", "code": "API1", "name": "接口网格"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let log = admin_log(&app).await;
    let actions: Vec<&str> = log.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(actions, ["admin.unit.rename", "admin.unit.create"]);
    assert_eq!(log[1].1, Some(user_id(&app, "d1.admin").await));
    let timeline = app.db.timeline(&case_id).await.expect("timeline");
    assert_eq!(timeline.len(), timeline_before);
    assert!(timeline.iter().all(|e| !e.action.starts_with("admin.")));
    let after = app.get("/api/v1/indicators", "d1.supervisor").await;
    assert_eq!(before.status, StatusCode::OK, "{:?}", before.body);
    assert_eq!(before.status, after.status);
    // The same figures (only the renamed unit's name differs).
    assert_eq!(before.body["total"], after.body["total"]);
    assert_eq!(before.body["total"]["received"], 1);
    assert_eq!(
        before.body["groups"][0]["figures"],
        after.body["groups"][0]["figures"]
    );
    assert_eq!(after.body["groups"][0]["name"]["zh"], "一区新名");
}
crate::db_test!(admin_entries_stay_out_of_cases);

/// A system account's keys on its admin page: issued (shown once), listed with
/// who issued them, revoked; an account with a role beyond the admin's units
/// is not theirs to open.
async fn api_keys_on_the_admin_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .post(
            "/api/v1/api-keys",
            "d1.admin",
            json!({"username": "d1-feed", "name": "区级接口",
            "roles": [{"role": "operator", "unit_id": app.unit("D1")}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let feed = r.body["user_id"].as_str().expect("user").to_string();
    let (d1_admin, csrf) = session(&app, "d1.admin").await;
    let page = format!("/admin/users/{feed}");
    let (status, html) = get(&d1_admin, &app, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("id=\"user-keys\"") && html.contains("区级接口"),
        "{html}"
    );
    assert!(!html.contains("id=\"new-key\""));

    // Issue a second key: the page shows it this once.
    let r = post(
        &d1_admin,
        &app,
        &format!("{page}/key"),
        &[("csrf_token", &csrf), ("key_name", "备用")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("text");
    let shown = html
        .split("<code>gz_")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .map(|k| format!("gz_{k}"))
        .expect("the new key is shown");
    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&shown)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK);
    let (_, html) = get(&d1_admin, &app, &page).await;
    assert!(!html.contains(&shown), "a key is shown only once");

    // Revoke it from the page.
    let keys = app.db.api_keys_of(&feed).await.expect("keys");
    let spare = keys.iter().find(|k| k.name == "备用").expect("spare key");
    let r = post(
        &d1_admin,
        &app,
        &format!("{page}/key_revoke"),
        &[("csrf_token", &csrf), ("key_id", &spare.id)],
    )
    .await;
    assert_eq!(location(&r), format!("{page}?done=key_revoked"));
    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&shown)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    // A key of another account cannot be revoked through this one's page.
    let other = app
        .post(
            "/api/v1/api-keys",
            "d1.admin",
            json!({"username": "d1-other", "name": "另一个", "roles": []}),
        )
        .await;
    let other_id = other.body["id"].as_str().expect("id").to_string();
    let r = post(
        &d1_admin,
        &app,
        &format!("{page}/key_revoke"),
        &[("csrf_token", &csrf), ("key_id", &other_id)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        app.db
            .api_key(&other_id)
            .await
            .expect("key")
            .expect("exists")
            .revoked_at
            .is_none()
    );

    // The city's feed holds a city-wide role: its page does not exist for D1's admin.
    let city = app
        .post("/api/v1/api-keys", "city.admin", json!({"username": "city-feed", "name": "市级",
            "roles": [{"role": "dispatcher", "unit_id": app.unit("C")}, {"role": "operator", "unit_id": app.unit("D1")}]}))
        .await;
    let city_feed = city.body["user_id"].as_str().expect("user").to_string();
    let (status, html) = get(&d1_admin, &app, &format!("/admin/users/{city_feed}")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "it holds a role in D1, so it is listed"
    );
    assert!(
        !html.contains("id=\"key-issue\""),
        "but its keys are not D1's to manage"
    );
    let r = post(
        &d1_admin,
        &app,
        &format!("/admin/users/{city_feed}/key"),
        &[("csrf_token", &csrf), ("key_name", "借用")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.db.api_keys_of(&city_feed).await.expect("keys").len(), 1);
    app.stop().await;
}
crate::db_test!(api_keys_on_the_admin_page);
