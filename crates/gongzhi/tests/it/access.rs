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
        // No such case, and an empty reason: refused before anything changes.
        "/api/v1/cases/{id}/links" => Some(json!({"kind": "related", "case": "NOPE-0000"})),
        "/api/v1/cases/{id}/links/{link_id}/remove" => Some(json!({"reason": ""})),
        // A role the type does not declare, and an empty reason.
        "/api/v1/cases/{id}/parties" => {
            Some(json!({"role": "no_such_role", "kind": "person", "fields": {"name": "矩阵"}}))
        }
        "/api/v1/cases/{id}/parties/{party_id}/remove" => Some(json!({"reason": ""})),
        // A template the type does not declare.
        "/api/v1/cases/{id}/documents" => Some(json!({"template": "no_such_template"})),
        // A kind the type does not declare; a blank record action.
        "/api/v1/cases/{id}/records" => Some(json!({"kind": "no_such_kind"})),
        "/api/v1/cases/{id}/records/{record_id}/actions" => Some(json!({"action": ""})),
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
        // An identifier too short to identify anyone: refused, nothing kept.
        "/api/v1/me/interests" => Some(json!({"relation": "own", "identifier": "123"})),
        "/api/v1/auth/logout" => None,
        // No body: lifting locks that are not there changes nothing but the log.
        "/api/v1/users/{username}/unlock" => None,
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
            .replace("{link_id}", "00000000-0000-7000-8000-000000000000")
            .replace("{party_id}", "00000000-0000-7000-8000-000000000000")
            .replace("{record_id}", "00000000-0000-7000-8000-000000000000")
            .replace("{interest_id}", "00000000-0000-7000-8000-000000000000")
            // A person in D1: d1.admin administers them, d2.admin does not.
            .replace("{username}", "d1.operator")
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
        for role in crate::harness::all_roles() {
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
                // A role that sees only cases assigned to its holders does
                // not see this unassigned one, even inside its subtree.
                let out_of_sight = scope == "out" || !crate::harness::sees_subtree(role);
                match route.access {
                    Access::CaseScoped if out_of_sight => {
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
                            // As the requests pack declares its roles.
                            let may =
                                matches!(role.as_str(), "operator" | "dispatcher" | "handler");
                            assert_eq!(status == StatusCode::OK, may, "{label}");
                            if may {
                                assert_eq!(body["fields"]["contact_phone"], "13812345678");
                            }
                        }
                        if route.path == "/api/v1/cases/{id}/actions" {
                            assert_eq!(body["code"], "unknown_action", "{label}");
                        }
                    }
                    Access::Admin => {
                        if role == Role::ADMIN {
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
                    Access::Staff if route.path.contains("{interest_id}") => {
                        // One's own declaration, and the matrix names none:
                        // not found, never someone else's.
                        assert_eq!(status, StatusCode::NOT_FOUND, "{label}: {body:?}");
                        assert_eq!(body["code"], "not_found", "{label}");
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
    for role in crate::harness::all_roles() {
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
        assert_eq!(
            has(&inside),
            crate::harness::sees_subtree(role),
            "{role:?} in scope lists the case unless it sees only assigned cases"
        );
        assert!(
            !has(&outside),
            "{role:?} out of scope must not list the case"
        );
    }
    // Personal data read through reveal was logged, once per allowed in-scope
    // role (operator, dispatcher, handler).
    assert_eq!(
        app.db.personal_reads_count(&case_id).await.expect("reads"),
        3
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

/// A request with a raw bearer key (one issued during the test).
async fn with_key(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The `admin.*` entries of the log: (action, actor id, changes).
async fn admin_entries(app: &TestApp) -> Vec<(String, Option<String>, String)> {
    app.db
        .log_entries(0, 100_000)
        .await
        .expect("log")
        .into_iter()
        .map(|(e, _)| e)
        .filter(|e| e.action.starts_with("admin."))
        .map(|e| (e.action, e.actor_id, e.changes))
        .collect()
}

/// An admin of one district reaches, through every admin route, only what lies
/// wholly inside the district. Above all: a key for an existing account hands
/// over that account's powers, so a district admin cannot issue one for an
/// account that holds a city-wide role (the escalation found in review).
async fn admin_routes_stay_inside_the_administration(backend: Backend) {
    let app = spawn_app(backend).await;
    let case_id = app.create_item("东区的案件").await;
    let d1_admin = app
        .db
        .user_by_username("d1.admin")
        .await
        .expect("db")
        .expect("d1.admin");

    // The city's own feed: a system account with a city-wide role.
    let r = app
        .post(
            "/api/v1/api-keys",
            "city.admin",
            json!({"username": "city-feed", "name": "市级接口",
            "roles": [{"role": "dispatcher", "unit_id": app.unit("C")}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let city_key = r.body["key"].as_str().expect("key").to_string();
    let city_feed = r.body["user_id"].as_str().expect("user").to_string();
    let city_key_id = r.body["id"].as_str().expect("id").to_string();

    // The district admin asks for a key of that account, with no roles or
    // with roles inside the district: refused, and nothing is stored.
    let before = admin_entries(&app).await.len();
    for roles in [
        json!([]),
        json!([{"role": "operator", "unit_id": app.unit("D1")}]),
    ] {
        let r = app
            .post(
                "/api/v1/api-keys",
                "d1.admin",
                json!({"username": "city-feed", "name": "借用", "roles": roles}),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{:?}",
            r.body
        );
        assert!(
            r.body["message"]
                .as_str()
                .unwrap_or("")
                .contains("outside your administration")
        );
    }
    assert_eq!(
        admin_entries(&app).await.len(),
        before,
        "a refusal changes nothing"
    );
    let keys = app
        .get(&format!("/api/v1/users/{city_feed}/api-keys"), "city.admin")
        .await;
    assert_eq!(keys.body["api_keys"].as_array().map(Vec::len), Some(1));
    let grants = app.db.grant_paths(&city_feed).await.expect("grants");
    assert_eq!(grants.len(), 1, "no grant was added to the city's account");

    // A feed of the district's own, issued by its admin.
    let r = app
        .post(
            "/api/v1/api-keys",
            "d1.admin",
            json!({"username": "d1-feed", "name": "区级接口",
            "roles": [{"role": "operator", "unit_id": app.unit("D1")}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let d1_key = r.body["key"].as_str().expect("key").to_string();
    let d1_key_id = r.body["id"].as_str().expect("id").to_string();
    let d1_feed = r.body["user_id"].as_str().expect("user").to_string();
    let (status, _) = with_key(&app, Method::GET, "/api/v1/me", &d1_key, None).await;
    assert_eq!(status, StatusCode::OK);

    // Every admin route, as the admin of D1 and of D2, at a target inside D1
    // and at one outside it. A new admin route must be added here.
    for route in ROUTES.iter().filter(|r| r.access == Access::Admin) {
        let label = format!("{} {}", route.method, route.path);
        match (route.method, route.path) {
            ("get", "/api/v1/users") => {
                let names = |r: &crate::harness::Reply| -> Vec<String> {
                    r.body["users"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|u| u["username"].as_str().map(str::to_string))
                        .collect()
                };
                let d1 = names(&app.get(route.path, "d1.admin").await);
                assert!(d1.contains(&"d1-feed".to_string()), "{label}: {d1:?}");
                assert!(!d1.contains(&"city-feed".to_string()), "{label}: {d1:?}");
                assert!(!d1.iter().any(|n| n.starts_with("d2.")), "{label}: {d1:?}");
                let d2 = names(&app.get(route.path, "d2.admin").await);
                assert!(!d2.contains(&"d1-feed".to_string()), "{label}: {d2:?}");
            }
            ("post", "/api/v1/users") => {
                for (unit, want) in [
                    ("D1", StatusCode::CREATED),
                    ("D2", StatusCode::FORBIDDEN),
                    ("C", StatusCode::FORBIDDEN),
                ] {
                    let r = app
                        .post(route.path, "d1.admin", json!({"username": format!("new-{unit}"), "display_name": "新",
                            "password": "long enough password", "roles": [{"role": "handler", "unit_id": app.unit(unit)}]}))
                        .await;
                    assert_eq!(r.status, want, "{label} at {unit}: {:?}", r.body);
                }
            }
            ("post", "/api/v1/api-keys") => {
                // Inside and outside: shown above, and grants of new accounts too.
                let r = app
                    .post(
                        route.path,
                        "d1.admin",
                        json!({"username": "d2-feed", "name": "x",
                        "roles": [{"role": "operator", "unit_id": app.unit("D2")}]}),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{label}");
                assert!(
                    app.db
                        .user_by_username("d2-feed")
                        .await
                        .expect("db")
                        .is_none()
                );
            }
            ("get", "/api/v1/users/{id}/api-keys") => {
                let inside = app
                    .get(&route.path.replace("{id}", &d1_feed), "d1.admin")
                    .await;
                assert_eq!(inside.status, StatusCode::OK, "{label}");
                let key = &inside.body["api_keys"][0];
                assert_eq!(key["created_by"], "d1.admin", "{label}: {key:?}");
                assert!(
                    key["last_used_at"].is_i64(),
                    "{label}: the use above is recorded"
                );
                assert!(
                    key.get("key_hash").is_none() && key.get("key").is_none(),
                    "{label}"
                );
                for (user, target) in [("d1.admin", &city_feed), ("d2.admin", &d1_feed)] {
                    let r = app.get(&route.path.replace("{id}", target), user).await;
                    assert_eq!(
                        (r.status, r.code()),
                        (StatusCode::NOT_FOUND, "not_found"),
                        "{label} as {user}"
                    );
                }
            }
            ("post", "/api/v1/api-keys/{id}/revoke") => {
                for (user, key_id) in [("d1.admin", &city_key_id), ("d2.admin", &d1_key_id)] {
                    let r = app
                        .call(
                            Method::POST,
                            &route.path.replace("{id}", key_id),
                            Some(user),
                            None,
                        )
                        .await;
                    assert_eq!(r.status, StatusCode::NOT_FOUND, "{label} as {user}");
                }
                let (status, _) = with_key(&app, Method::GET, "/api/v1/me", &city_key, None).await;
                assert_eq!(
                    status,
                    StatusCode::OK,
                    "{label}: the city's key still works"
                );
                let r = app
                    .call(
                        Method::POST,
                        &route.path.replace("{id}", &d1_key_id),
                        Some("d1.admin"),
                        None,
                    )
                    .await;
                assert_eq!(r.status, StatusCode::OK, "{label}: {:?}", r.body);
                assert!(r.body["api_key"]["revoked_at"].is_i64());
                assert_eq!(r.body["api_key"]["revoked_by"], "d1.admin");
                let (status, _) = with_key(&app, Method::GET, "/api/v1/me", &d1_key, None).await;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{label}: a revoked key stops at once"
                );
                let again = app
                    .call(
                        Method::POST,
                        &route.path.replace("{id}", &d1_key_id),
                        Some("d1.admin"),
                        None,
                    )
                    .await;
                assert_eq!(again.status, StatusCode::CONFLICT, "{label}");
            }
            ("post", "/api/v1/users/{username}/unlock") => {
                // Five wrong passwords lock d1.handler for this address.
                for _ in 0..5 {
                    let r = app
                        .call(
                            Method::POST,
                            "/api/v1/auth/login",
                            None,
                            Some(json!({"username": "d1.handler", "password": "wrong-password"})),
                        )
                        .await;
                    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{label}");
                }
                let locked = || async {
                    app.call(
                        Method::POST,
                        "/api/v1/auth/login",
                        None,
                        Some(json!({"username": "d1.handler", "password": "wrong-password"})),
                    )
                    .await
                    .code()
                        == "account_locked"
                };
                assert!(locked().await, "{label}");
                let unlock = |name: &str| route.path.replace("{username}", name);
                for (user, target) in [
                    ("d2.admin", "d1.handler"),
                    ("d1.admin", "city.admin"),
                    ("d1.admin", "nobody-at-all"),
                ] {
                    let r = app
                        .call(Method::POST, &unlock(target), Some(user), None)
                        .await;
                    assert_eq!(
                        (r.status, r.code()),
                        (StatusCode::NOT_FOUND, "not_found"),
                        "{label}: {user} unlocking {target}"
                    );
                }
                assert!(locked().await, "{label}: still locked after refusals");
                let r = app
                    .call(Method::POST, &unlock("d1.handler"), Some("d1.admin"), None)
                    .await;
                assert_eq!(r.status, StatusCode::OK, "{label}: {:?}", r.body);
                assert_eq!(r.body["locked_addresses"], 1, "{label}");
                assert!(!locked().await, "{label}: unlocked");
            }
            ("post", "/api/v1/units") => {
                for (parent, want) in [("M1", StatusCode::CREATED), ("M2", StatusCode::FORBIDDEN)] {
                    let r = app
                        .post(
                            route.path,
                            "d1.admin",
                            json!({"parent_id": app.unit(parent), "kind": "grid",
                            "code": format!("X-{parent}"), "name": "新网格"}),
                        )
                        .await;
                    assert_eq!(r.status, want, "{label} under {parent}: {:?}", r.body);
                }
            }
            _ => panic!("{label}: add this admin route's inside and outside targets to this test"),
        }
    }
    // The city's key still reads the district's case; the district's admin never could through it.
    let (status, _) = with_key(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{case_id}"),
        &city_key,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Every change above is in the log, by its author; no key or hash in it.
    let entries = admin_entries(&app).await;
    let by_d1: Vec<&str> = entries
        .iter()
        .filter(|(_, by, _)| by.as_deref() == Some(d1_admin.id.as_str()))
        .map(|(a, _, _)| a.as_str())
        .collect();
    for action in [
        "admin.user.create",
        "admin.role.grant",
        "admin.api_key.create",
        "admin.api_key.revoke",
        "admin.user.unlock",
        "admin.unit.create",
    ] {
        assert!(by_d1.contains(&action), "{action} by d1.admin in {by_d1:?}");
    }
    assert!(
        entries
            .iter()
            .all(|(_, _, c)| !c.contains(&d1_key) && !c.contains(&city_key))
    );
    app.stop().await;
}
crate::db_test!(admin_routes_stay_inside_the_administration);
