//! Staff roles come from packs: an admin grants what the loaded packs declare,
//! and a role that no pack declares any more gives no powers, though it stays
//! visible so it can be revoked.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Backend, spawn_app};
use crate::pages::{location, session};

crate::db_test!(an_admin_grants_the_roles_packs_declare_and_nothing_else);
async fn an_admin_grants_the_roles_packs_declare_and_nothing_else(backend: Backend) {
    let app = spawn_app(backend).await;

    // Clients read the roles with the packs: names, reveal, pages.
    let packs = app.get("/api/v1/packs", "d1.operator").await;
    assert_eq!(packs.status, StatusCode::OK);
    let roles = packs.body["roles"].as_array().cloned().unwrap_or_default();
    let role = |id: &str| roles.iter().find(|r| r["id"] == id).cloned();
    let operator = role("operator").expect("the requests pack declares operator");
    assert_eq!(operator["name"]["zh"], "受理员");
    assert_eq!(operator["reveal_personal"], true);
    assert_eq!(operator["pages"], json!(["intake"]));
    assert_eq!(
        role("grid_worker").map(|r| r["reveal_personal"].clone()),
        Some(json!(false))
    );
    assert!(role("admin").is_some(), "the platform's own role");
    assert!(role("astrologer").is_none(), "no loaded pack declares it");

    // A role no pack declares is refused by name, and nothing is made.
    let r = app
        .post(
            "/api/v1/users",
            "d1.admin",
            json!({"username": "new.astrologer", "display_name": "占星师", "password": "long enough password",
                "roles": [{"role": "astrologer", "unit_id": app.unit("D1")}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "roles[0].role", "{:?}", r.body);
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("operator") && message.contains("handler"),
        "{message}"
    );
    let made = app
        .db
        .user_by_username("new.astrologer")
        .await
        .expect("user");
    assert!(made.is_none());

    // A grant of a role that a retired pack declared: the account sees and
    // does nothing with it.
    let retired = app
        .db
        .create_user("x.archivist", "档案员", None)
        .await
        .expect("user");
    let d1 = app.unit("D1");
    app.exec(&format!(
        "INSERT INTO role_assignments (id, user_id, role, unit_id, created_at) \
         VALUES ('ra-retired', '{}', 'archivist', '{d1}', 0)",
        retired.id
    ))
    .await;
    let case = app.create_request("退役角色看不到的诉求").await;
    let (client, _) = session(&app, "x.archivist").await;
    let me = client.get(app.url("/api/v1/me")).send().await.expect("me");
    let me: serde_json::Value = me.json().await.expect("json");
    assert_eq!(me["user"]["assignments"], json!([]), "{me}");
    let seen = client
        .get(app.url(&format!("/api/v1/cases/{case}")))
        .send()
        .await
        .expect("case");
    assert_eq!(seen.status(), StatusCode::NOT_FOUND);

    // The district admin still sees the grant by its id and revokes it.
    let (admin, csrf) = session(&app, "d1.admin").await;
    let page = admin
        .get(app.url(&format!("/admin/users/{}", retired.id)))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("archivist"), "{html}");
    // The grant form offers what the packs declare, by their names.
    assert!(html.contains("value=\"grid_worker\"") && html.contains("网格员"));
    assert!(!html.contains("value=\"astrologer\""));
    let r = admin
        .post(app.url(&format!("/admin/users/{}/revoke", retired.id)))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("role", "archivist"),
            ("unit_id", d1.as_str()),
        ])
        .send()
        .await
        .expect("revoke");
    // The last grant of an account stays (it would vanish from every list);
    // a declared role granted first lets the retired one go.
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = admin
        .post(app.url(&format!("/admin/users/{}/grant", retired.id)))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("role", "handler"),
            ("unit_id", d1.as_str()),
        ])
        .send()
        .await
        .expect("grant");
    assert_eq!(
        location(&r),
        format!("/admin/users/{}?done=role_granted", retired.id)
    );
    let r = admin
        .post(app.url(&format!("/admin/users/{}/revoke", retired.id)))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("role", "archivist"),
            ("unit_id", d1.as_str()),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(
        location(&r),
        format!("/admin/users/{}?done=role_revoked", retired.id)
    );
    let actor = app.db.actor(&retired.id).await.expect("a").expect("actor");
    let held: Vec<&str> = actor.assignments.iter().map(|a| a.role.as_str()).collect();
    assert_eq!(held, vec!["handler"]);
    app.stop().await;
}
