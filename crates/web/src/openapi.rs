//! The OpenAPI 3.1 document served at `/api/openapi.json`. Routes are listed
//! once here; the integration tests walk this list against the live router, so
//! a route missing from either side fails a test.

use serde_json::{Map, Value, json};

/// How a route authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Any logged-in staff member or API key.
    Staff,
    /// Staff, and the answer depends on the case being in the caller's scope.
    CaseScoped,
    /// Administrators only.
    Admin,
}

#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    pub access: Access,
    /// JSON schema of the request body, if any.
    pub body: Option<&'static str>,
    pub ok_status: u16,
}

const ERROR_SCHEMA: &str = r#"{"type":"object","required":["code","message"],"properties":{"code":{"type":"string"},"message":{"type":"string"},"field":{"type":"string"}}}"#;

pub const ROUTES: &[RouteDoc] = &[
    RouteDoc {
        method: "get",
        path: "/healthz",
        summary: "Liveness and database check",
        tag: "meta",
        access: Access::Public,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/openapi.json",
        summary: "This document",
        tag: "meta",
        access: Access::Public,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/auth/login",
        summary: "Log in; sets the session cookie and returns the CSRF token",
        tag: "auth",
        access: Access::Public,
        body: Some(
            r#"{"type":"object","required":["username","password"],"properties":{"username":{"type":"string"},"password":{"type":"string"}}}"#,
        ),
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/auth/logout",
        summary: "End the session",
        tag: "auth",
        access: Access::Staff,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/me",
        summary: "The caller and their role assignments",
        tag: "auth",
        access: Access::Staff,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/places/locate",
        summary: "Units containing a point (query lat, lng), grid first",
        tag: "places",
        access: Access::Public,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/units",
        summary: "The unit tree",
        tag: "units",
        access: Access::Staff,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/units",
        summary: "Add a unit under a parent (admin over the parent)",
        tag: "units",
        access: Access::Admin,
        body: Some(
            r#"{"type":"object","required":["parent_id","kind","code","name"],"properties":{"parent_id":{"type":"string"},"kind":{"enum":["district","street","community","grid","department"]},"code":{"type":"string"},"name":{"type":"string"},"geometry":{"type":"object","description":"GeoJSON Polygon or MultiPolygon (WGS84)"}}}"#,
        ),
        ok_status: 201,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/units/{id}",
        summary: "One unit with its polygon",
        tag: "units",
        access: Access::Staff,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/packs",
        summary: "Loaded case types: fields, states, actions",
        tag: "packs",
        access: Access::Staff,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/users",
        summary: "Users with grants in the admin's scope",
        tag: "users",
        access: Access::Admin,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/users",
        summary: "Create a staff user with role grants",
        tag: "users",
        access: Access::Admin,
        body: Some(
            r#"{"type":"object","required":["username","display_name","password"],"properties":{"username":{"type":"string"},"display_name":{"type":"string"},"password":{"type":"string","minLength":8},"roles":{"type":"array","items":{"type":"object","required":["role","unit_id"],"properties":{"role":{"type":"string"},"unit_id":{"type":"string"}}}}}}"#,
        ),
        ok_status: 201,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/api-keys",
        summary: "Create an API key for a system account (shown once)",
        tag: "users",
        access: Access::Admin,
        body: Some(
            r#"{"type":"object","required":["username","name"],"properties":{"username":{"type":"string"},"name":{"type":"string"},"roles":{"type":"array"}}}"#,
        ),
        ok_status: 201,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/cases",
        summary: "Cases in the caller's scopes (query state, unit, limit, offset)",
        tag: "cases",
        access: Access::Staff,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/cases",
        summary: "Create a case through its pack's creation action",
        tag: "cases",
        access: Access::Staff,
        body: Some(
            r#"{"type":"object","required":["pack","case_type"],"properties":{"pack":{"type":"string"},"case_type":{"type":"string"},"fields":{"type":"object"},"reason":{"type":"string"},"lng":{"type":"number"},"lat":{"type":"number"},"acting_unit":{"type":"string"}}}"#,
        ),
        ok_status: 201,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/cases/{id}",
        summary: "One case, personal fields masked, with deadlines and the caller's actions",
        tag: "cases",
        access: Access::CaseScoped,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/cases/{id}/actions",
        summary: "Apply a workflow action",
        tag: "cases",
        access: Access::CaseScoped,
        body: Some(
            r#"{"type":"object","required":["action"],"properties":{"action":{"type":"string"},"fields":{"type":"object"},"reason":{"type":"string"},"target_unit":{"type":"string"},"version":{"type":"integer"}}}"#,
        ),
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/cases/{id}/timeline",
        summary: "The case's history, read from the log",
        tag: "cases",
        access: Access::CaseScoped,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/cases/{id}/reveal",
        summary: "Personal fields in clear, for roles that need them; the read is logged",
        tag: "cases",
        access: Access::CaseScoped,
        body: Some(
            r#"{"type":"object","required":["purpose"],"properties":{"purpose":{"type":"string"}}}"#,
        ),
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/cases/{id}/bundle",
        summary: "The case's export bundle: entries, inclusion proofs, signed checkpoint (for gongzhi verify-bundle)",
        tag: "log",
        access: Access::CaseScoped,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/log/checkpoint",
        summary: "The newest signed checkpoint with its cosignatures (query witnessed=true: the newest witnessed one)",
        tag: "log",
        access: Access::Public,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/log/checkpoints",
        summary: "Checkpoint history, newest first (query below_size, limit)",
        tag: "log",
        access: Access::Public,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/log/key",
        summary: "The log's public key, retired keys, witnesses and quorum",
        tag: "log",
        access: Access::Public,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/log/proof/inclusion",
        summary: "Inclusion proof of entry seq in the checkpoint of size (query seq, size)",
        tag: "log",
        access: Access::Public,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/log/proof/consistency",
        summary: "Consistency proof between two checkpoints (query from, to)",
        tag: "log",
        access: Access::Public,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/log/cosignatures",
        summary: "A witness's C2SP cosignature lines on a checkpoint",
        tag: "log",
        access: Access::Public,
        body: Some(
            r#"{"type":"object","required":["tree_size","root_hash","signatures"],"properties":{"tree_size":{"type":"integer"},"root_hash":{"type":"string"},"signatures":{"type":"array","items":{"type":"string"}}}}"#,
        ),
        ok_status: 200,
    },
];

fn parse(schema: &str) -> Value {
    serde_json::from_str(schema).unwrap_or(Value::Null)
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let mut op = json!({
            "summary": route.summary,
            "tags": [route.tag],
            "responses": {
                route.ok_status.to_string(): {"description": "success", "content": {"application/json": {"schema": {"type": "object"}}}},
                "default": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        if let Some(obj) = op.as_object_mut() {
            if route.access == Access::Public {
                obj.insert("security".into(), json!([]));
            }
            if let Some(body) = route.body {
                obj.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {"application/json": {"schema": parse(body)}}}),
                );
            }
            let mut params = Vec::new();
            if route.path.contains("{id}") {
                params.push(json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}));
            }
            if route.path == "/api/v1/places/locate" {
                params.push(json!({"name": "lat", "in": "query", "required": true, "schema": {"type": "number"}}));
                params.push(json!({"name": "lng", "in": "query", "required": true, "schema": {"type": "number"}}));
            }
            if !params.is_empty() {
                obj.insert("parameters".into(), Value::Array(params));
            }
        }
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        if let Some(obj) = entry.as_object_mut() {
            obj.insert(route.method.to_string(), op);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "gongzhi API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Cases, units, places and accounts of a gongzhi instance. Errors are {code, message}.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {"Error": parse(ERROR_SCHEMA)},
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE},
                "apiKey": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"session": []}, {"apiKey": []}],
    })
}
