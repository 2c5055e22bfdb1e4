//! The access matrix: every API route, every role, in scope and out of scope.
//! Out-of-scope reads and actions answer exactly as if the case did not exist.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use gongzhi_domain::role::Role;
use gongzhi_web::openapi::{Access, ROUTES};

use crate::harness::{Backend, TestApp, spawn_app};

/// A body that passes each route's parsing without changing anything that
/// matters to the next request.
fn harmless_body(path: &str) -> Option<Value> {
    match path {
        "/api/v1/auth/login" => Some(json!({"username": "nobody", "password": "wrong-password"})),
        "/api/v1/cases" => {
            Some(json!({"pack": "generic", "case_type": "item", "fields": {"title": "矩阵测试"}}))
        }
        "/api/v1/cases/{id}/actions" => Some(json!({"action": "no_such_action"})),
        "/api/v1/cases/{id}/reveal" => Some(json!({"purpose": "access matrix"})),
        "/api/v1/units" => {
            Some(json!({"parent_id": "u-M1", "kind": "grid", "code": "MATRIX", "name": "矩阵"}))
        }
        "/api/v1/users" => {
            Some(json!({"username": "matrix", "display_name": "m", "password": "short"}))
        }
        "/api/v1/api-keys" => Some(
            json!({"username": "matrix-system", "name": "m", "roles": [{"role": "operator", "unit_id": "u-ZZZ"}]}),
        ),
        "/api/v1/log/cosignatures" => {
            Some(json!({"tree_size": 0, "root_hash": "", "signatures": []}))
        }
        "/api/v1/auth/logout" => None,
        "/api/v1/public/lookup" => {
            Some(json!({"receipt_code": "ABC-DEFGH-2", "phone_last4": "0000"}))
        }
        _ => None,
    }
}

/// The ids a route's `{id}` stands for: a case, or an attachment of it.
#[derive(Clone, Copy)]
struct Ids<'a> {
    case: &'a str,
    attachment: &'a str,
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    user: Option<&str>,
    ids: Ids<'_>,
) -> (StatusCode, Value) {
    let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
    if method == "post" && path == "/api/v1/cases/{id}/attachments" {
        // Multipart, and harmless: text is refused by content, nothing stored.
        let r = app
            .upload(ids.case, user, "matrix.jpg", b"not a photo".to_vec())
            .await;
        return (r.status, r.body);
    }
    let concrete = if path.starts_with("/api/v1/attachments/") {
        path.replace("{id}", ids.attachment)
    } else {
        path.replace("{id}", ids.case)
    };
    let concrete = if path == "/api/v1/places/locate" {
        format!("{concrete}?lat=28.05&lng=113.1")
    } else {
        concrete
    };
    let concrete = if path == "/api/v1/units/{id}" {
        path.replace("{id}", "u-D1")
    } else {
        concrete
    };
    let body = if method == "post" {
        harmless_body(path)
    } else {
        None
    };
    let r = app.call(m, &concrete, user, body).await;
    (r.status, r.body)
}

async fn every_route_every_role(backend: Backend) {
    let app = spawn_app(backend).await;
    // The case lies in D1 (grid G1a) and is held by D1.
    let case_id = app.create_item("矩阵中的案件").await;
    // The case's bundle needs its entry under a signed checkpoint.
    app.wait_for_checkpoint().await;
    let upload = app
        .upload(
            &case_id,
            Some("d1.operator"),
            "p.png",
            crate::attachments::png_bytes(),
        )
        .await;
    assert_eq!(upload.status, StatusCode::CREATED, "{:?}", upload.body);
    let attachment_id = upload.body["id"]
        .as_str()
        .expect("attachment id")
        .to_string();
    let ids = Ids {
        case: &case_id,
        attachment: &attachment_id,
    };
    let missing_id = "00000000-0000-7000-8000-000000000000";
    let missing = Ids {
        case: missing_id,
        attachment: missing_id,
    };
    let (missing_status, missing_body) = call(
        &app,
        "get",
        "/api/v1/cases/{id}",
        Some("d1.operator"),
        missing,
    )
    .await;
    assert_eq!(missing_status, StatusCode::NOT_FOUND);

    for route in ROUTES {
        // Anonymous callers: public routes answer, the rest want a login.
        let (status, body) = call(&app, route.method, route.path, None, ids).await;
        if route.access == Access::Public {
            assert_ne!(
                body["code"], "unauthenticated",
                "{} {} anonymous: {status}",
                route.method, route.path
            );
        } else {
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
                "{} {}",
                route.method,
                route.path
            );
        }
        if route.path == "/api/v1/auth/logout" {
            continue; // API keys have no session to end; nothing scoped here.
        }
        for role in Role::ALL {
            for (scope, user) in [
                ("in", format!("d1.{}", role.as_str())),
                ("out", format!("d2.{}", role.as_str())),
            ] {
                let (status, body) = call(&app, route.method, route.path, Some(&user), ids).await;
                let label = format!(
                    "{} {} as {user} ({scope} of scope)",
                    route.method, route.path
                );
                assert_ne!(
                    status,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "{label}: {body:?}"
                );
                match route.access {
                    Access::CaseScoped if scope == "out" => {
                        // Exactly the answer for a case that does not exist.
                        let (want_status, want_body) = if route.method == "get" {
                            (missing_status, missing_body.clone())
                        } else {
                            call(&app, route.method, route.path, Some(&user), missing).await
                        };
                        assert_eq!((status, &body), (want_status, &want_body), "{label}");
                        assert_eq!(body["code"], "case_not_found", "{label}");
                    }
                    Access::CaseScoped => {
                        assert_ne!(status, StatusCode::NOT_FOUND, "{label}: {body:?}");
                        if route.method == "get" {
                            assert_eq!(status, StatusCode::OK, "{label}");
                        }
                        if route.path.ends_with("/reveal") {
                            let may = matches!(
                                role,
                                Role::Operator | Role::Dispatcher | Role::Handler | Role::Mediator
                            );
                            assert_eq!(status == StatusCode::OK, may, "{label}");
                            if may {
                                assert_eq!(body["fields"]["contact_phone"], "13812345678");
                            }
                        }
                        if route.path.ends_with("/actions") {
                            assert_eq!(body["code"], "unknown_action", "{label}");
                        }
                    }
                    Access::Admin => {
                        if role == Role::Admin {
                            assert!(
                                status != StatusCode::FORBIDDEN
                                    || body["message"].as_str().unwrap_or("").contains("outside"),
                                "{label}: {body:?}"
                            );
                        } else {
                            assert_eq!(
                                (status, body["code"].as_str()),
                                (StatusCode::FORBIDDEN, Some("forbidden")),
                                "{label}"
                            );
                        }
                    }
                    Access::Public => {
                        assert_ne!(body["code"], "unauthenticated", "{label}");
                        assert_ne!(status, StatusCode::NOT_FOUND, "{label}");
                    }
                    Access::Staff => {
                        assert!(
                            status != StatusCode::UNAUTHORIZED && status != StatusCode::NOT_FOUND,
                            "{label}: {status} {body:?}"
                        );
                    }
                }
            }
        }
    }

    // Lists: the case shows up for every in-scope role and for no out-of-scope one.
    for role in Role::ALL {
        let inside = app
            .get("/api/v1/cases?limit=500", &format!("d1.{}", role.as_str()))
            .await;
        let outside = app
            .get("/api/v1/cases?limit=500", &format!("d2.{}", role.as_str()))
            .await;
        let has = |r: &crate::harness::Reply| {
            r.body["cases"]
                .as_array()
                .map(|a| a.iter().any(|c| c["id"] == case_id.as_str()))
                .unwrap_or(false)
        };
        assert!(has(&inside), "{role:?} in scope should list the case");
        assert!(
            !has(&outside),
            "{role:?} out of scope must not list the case"
        );
    }
    // Personal data read through reveal was logged, once per allowed in-scope role.
    assert_eq!(
        app.db.personal_reads_count(&case_id).await.expect("reads"),
        4
    );
    app.stop().await;
}
crate::db_test!(every_route_every_role);

/// Handing a case to another unit moves it out of the old holder's sight only
/// when the area does not keep it in scope; a department handler sees it once
/// it holds it.
async fn scope_follows_the_holder(backend: Backend) {
    let app = spawn_app(backend).await;
    let case_id = app.create_item("路灯不亮").await;
    let path = format!("/api/v1/cases/{case_id}");
    assert_eq!(
        app.get(&path, "cg.handler").await.status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .act(
            &case_id,
            "d1.dispatcher",
            json!({"action": "assign", "target_unit": app.unit("D1-CG")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(app.get(&path, "cg.handler").await.status, StatusCode::OK);
    // A handler in D2 still cannot see or act on it.
    let r = app
        .act(&case_id, "d2.handler", json!({"action": "accept"}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "case_not_found")
    );
    // The grid worker of G1a sees it through its area.
    assert_eq!(app.get(&path, "grid.g1a").await.status, StatusCode::OK);
    app.stop().await;
}
crate::db_test!(scope_follows_the_holder);
