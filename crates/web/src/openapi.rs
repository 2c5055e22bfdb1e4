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
        method: "post",
        path: "/api/v1/grid/reports",
        summary: "A grid worker's report from a phone: multipart `event` (JSON with client_key, title, lng, lat, ...) and up to 4 `photo` parts; retry-safe on client_key",
        tag: "intake",
        access: Access::Staff,
        body: Some(
            r#"{"type":"object","required":["event"],"properties":{"event":{"type":"string","minLength":1,"description":"JSON: client_key (1 to 128 bytes), title, lng (-180 to 180), lat (-90 to 90), description?, category?, address?"},"photo":{"type":"array","maxItems":4,"items":{"type":"string","format":"binary"}}}}"#,
        ),
        ok_status: 201,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/public/lookup",
        summary: "A citizen's request by receipt code and the phone's last 4 digits: state and public timeline",
        tag: "public",
        access: Access::Public,
        body: Some(
            r#"{"type":"object","required":["receipt_code","phone_last4"],"properties":{"receipt_code":{"type":"string","minLength":9,"description":"9 symbols; dashes and spaces are ignored, e.g. K7M-4Q9XZ-2"},"phone_last4":{"type":"string","minLength":4,"maxLength":4,"pattern":"^[0-9]{4}$"}}}"#,
        ),
        ok_status: 200,
    },
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
            r#"{"type":"object","required":["username","password"],"properties":{"username":{"type":"string","minLength":1,"maxLength":64},"password":{"type":"string","minLength":1,"maxLength":1024,"description":"at most 1024 bytes"}}}"#,
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
        path: "/api/v1/me/interests",
        summary: "The caller's declarations of interest (own and related people's ID or phone), shown by their last four characters",
        tag: "auth",
        access: Access::Staff,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/me/interests",
        summary: "Declare an identifier of one's own or of a related person, for conflict-of-interest checks; only its digest is kept",
        tag: "auth",
        access: Access::Staff,
        body: Some(
            r#"{"type":"object","required":["relation","identifier"],"properties":{"relation":{"type":"string","enum":["own","related"]},"identifier":{"type":"string","minLength":6,"maxLength":40},"note":{"type":"string","maxLength":100}}}"#,
        ),
        ok_status: 201,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/me/interests/{interest_id}/remove",
        summary: "Withdraw one of the caller's declarations",
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
            r#"{"type":"object","required":["parent_id","kind","code","name"],"properties":{"parent_id":{"type":"string","minLength":1},"kind":{"enum":["city","district","street","community","grid","department"]},"code":{"type":"string","minLength":1,"maxLength":64,"description":"1 to 64 bytes, not blank"},"name":{"type":"string","minLength":1,"maxLength":100,"description":"not blank"},"geometry":{"type":"object","description":"GeoJSON Polygon or MultiPolygon (WGS84)"}}}"#,
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
        summary: "Loaded case types (fields, states, actions) and the staff roles packs declare",
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
            r#"{"type":"object","required":["username","display_name","password"],"properties":{"username":{"type":"string","minLength":2,"maxLength":64,"pattern":"^[A-Za-z0-9._-]{2,64}$"},"display_name":{"type":"string","minLength":1,"maxLength":100,"description":"not blank"},"password":{"type":"string","minLength":8,"maxLength":1024,"description":"8 characters to 1024 bytes"},"roles":{"type":"array","maxItems":50,"items":{"type":"object","required":["role","unit_id"],"properties":{"role":{"type":"string","minLength":1,"maxLength":64,"description":"a role a loaded pack declares, or admin: see roles in GET /api/v1/packs"},"unit_id":{"type":"string","minLength":1}}}}}}"#,
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
            r#"{"type":"object","required":["username","name"],"properties":{"username":{"type":"string","minLength":2,"maxLength":64,"pattern":"^[A-Za-z0-9._-]{2,64}$"},"name":{"type":"string","minLength":1,"maxLength":100,"description":"not blank"},"roles":{"type":"array","maxItems":50,"items":{"type":"object","required":["role","unit_id"],"properties":{"role":{"type":"string","minLength":1,"maxLength":64,"description":"a role a loaded pack declares, or admin: see roles in GET /api/v1/packs"},"unit_id":{"type":"string","minLength":1}}}}}}"#,
        ),
        ok_status: 201,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/users/{id}/api-keys",
        summary: "An account's API keys: who issued each, when, last use, revocation (never the key)",
        tag: "users",
        access: Access::Admin,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/users/{username}/unlock",
        summary: "Lift the user's login locks from every address (an admin who administers the account; logged)",
        tag: "users",
        access: Access::Admin,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/api-keys/{id}/revoke",
        summary: "Revoke an API key (logged)",
        tag: "users",
        access: Access::Admin,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/cases",
        summary: "Cases in the caller's scopes (query state, unit, assignee = me or a user id, limit, offset)",
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
            r#"{"type":"object","required":["pack","case_type"],"properties":{"pack":{"type":"string","minLength":1},"case_type":{"type":"string","minLength":1},"fields":{"type":"object","description":"the case type's fields, with the limits GET /api/v1/packs lists"},"reason":{"type":"string","maxLength":2000},"lng":{"type":"number","minimum":-180,"maximum":180,"description":"with lat"},"lat":{"type":"number","minimum":-90,"maximum":90,"description":"with lng"},"acting_unit":{"type":"string"}}}"#,
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
            r#"{"type":"object","required":["action"],"properties":{"action":{"type":"string","minLength":1},"fields":{"type":"object"},"reason":{"type":"string","maxLength":2000},"target_unit":{"type":"string"},"version":{"type":"integer"}}}"#,
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
        method: "get",
        path: "/api/v1/cases/{id}/candidates",
        summary: "For each person field of the case's type, the staff who may be assigned in it here, with their open load",
        tag: "cases",
        access: Access::CaseScoped,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/cases/{id}/links",
        summary: "The case's links to other cases (referral, duplicate, conversion, related), from both ends",
        tag: "cases",
        access: Access::CaseScoped,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/cases/{id}/links",
        summary: "Link the case to another case the caller can see; written into both cases' logs",
        tag: "cases",
        access: Access::CaseScoped,
        body: Some(
            r#"{"type":"object","required":["kind","case"],"properties":{"kind":{"type":"string","enum":["referral","duplicate","conversion","related"]},"case":{"type":"string","minLength":1,"maxLength":64,"description":"the other case's id or receipt code"},"note":{"type":"string","maxLength":500}}}"#,
        ),
        ok_status: 201,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/cases/{id}/links/{link_id}/remove",
        summary: "Remove a link made by mistake, with the reason; written into both cases' logs",
        tag: "cases",
        access: Access::CaseScoped,
        body: Some(
            r#"{"type":"object","required":["reason"],"properties":{"reason":{"type":"string","minLength":1,"maxLength":500}}}"#,
        ),
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/cases/{id}/parties",
        summary: "The case's parties (当事人) with their roles; personal values masked",
        tag: "cases",
        access: Access::CaseScoped,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/cases/{id}/parties",
        summary: "Add a party with a role its case type declares, person or organisation, and the declared party fields; logged with personal values digested",
        tag: "cases",
        access: Access::CaseScoped,
        body: Some(
            r#"{"type":"object","required":["role","kind","fields"],"properties":{"role":{"type":"string","minLength":1},"kind":{"type":"string","enum":["person","organisation"]},"fields":{"type":"object","required":["name"],"description":"the party fields the case type declares; name is required"}}}"#,
        ),
        ok_status: 201,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/cases/{id}/parties/{party_id}/remove",
        summary: "Remove a party added by mistake, with the reason; logged",
        tag: "cases",
        access: Access::CaseScoped,
        body: Some(
            r#"{"type":"object","required":["reason"],"properties":{"reason":{"type":"string","minLength":1,"maxLength":500}}}"#,
        ),
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/cases/{id}/records",
        summary: "The case's records (sessions, agreements, documents, ledger entries...), personal values masked",
        tag: "cases",
        access: Access::CaseScoped,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/cases/{id}/records",
        summary: "Add a record of a kind the case type declares, if your role may; logged",
        tag: "cases",
        access: Access::CaseScoped,
        body: Some(
            r#"{"type":"object","required":["kind"],"properties":{"kind":{"type":"string","minLength":1},"fields":{"type":"object","description":"the record kind's fields, as GET /api/v1/packs lists them"}}}"#,
        ),
        ok_status: 201,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/cases/{id}/records/{record_id}/actions",
        summary: "Take an action of a record's own life (hold a session, confirm an agreement...); logged",
        tag: "cases",
        access: Access::CaseScoped,
        body: Some(
            r#"{"type":"object","required":["action"],"properties":{"action":{"type":"string","minLength":1},"fields":{"type":"object"}}}"#,
        ),
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/cases/{id}/documents",
        summary: "Issue a document from a template the case type declares (an agreement, a notice): the A4 HTML page and its SHA-256, which the log records; printing the parties is a recorded read",
        tag: "cases",
        access: Access::CaseScoped,
        body: Some(
            r#"{"type":"object","required":["template"],"properties":{"template":{"type":"string","minLength":1},"record":{"type":"string","description":"the record it is issued for, when the template names a record kind"}}}"#,
        ),
        ok_status: 201,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/cases/{id}/reveal",
        summary: "Personal fields in clear, for roles that need them; the read is logged",
        tag: "cases",
        access: Access::CaseScoped,
        body: Some(
            r#"{"type":"object","required":["purpose"],"properties":{"purpose":{"type":"string","minLength":1,"maxLength":500,"description":"not blank"}}}"#,
        ),
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/indicators",
        summary: "The figures a pack declares, computed from the log for the cases in the caller's scope created in a period (docs/INDICATORS.md)",
        tag: "indicators",
        access: Access::Staff,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/api/v1/cases/{id}/attachments",
        summary: "Attach a photo or document (multipart field file; type sniffed from content; size-limited)",
        tag: "attachments",
        access: Access::CaseScoped,
        body: Some(
            r#"{"type":"object","required":["file"],"properties":{"file":{"type":"string","contentMediaType":"application/octet-stream","description":"JPEG, PNG, WebP, GIF, PDF, DOCX or XLSX; not empty, at most the server's attachment limit (10 MiB by default; 413 states it)"}}}"#,
        ),
        ok_status: 201,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/cases/{id}/attachments",
        summary: "The case's attachments",
        tag: "attachments",
        access: Access::CaseScoped,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/attachments/{id}",
        summary: "Download an attachment as uploaded (scope of its case)",
        tag: "attachments",
        access: Access::CaseScoped,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/api/v1/attachments/{id}/public",
        summary: "Download the copy without metadata (no EXIF/GPS); staff only until the public portal",
        tag: "attachments",
        access: Access::CaseScoped,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/open311/v2/discovery.{format}",
        summary: "Open311 GeoReport v2 discovery (format json or xml)",
        tag: "open311",
        access: Access::Public,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/open311/v2/services.{format}",
        summary: "Open311 service list: the leaf categories",
        tag: "open311",
        access: Access::Public,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/open311/v2/services/{service_code}.{format}",
        summary: "Open311 service definition with its attributes",
        tag: "open311",
        access: Access::Public,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "post",
        path: "/open311/v2/requests.{format}",
        summary: "Open311: create a service request (form fields, api_key of an operator account)",
        tag: "open311",
        access: Access::Public,
        body: Some(
            r#"{"type":"object","required":["api_key","service_code"],"properties":{"api_key":{"type":"string","minLength":1},"service_code":{"type":"string","minLength":1},"lat":{"type":"number","minimum":-90,"maximum":90,"description":"with long"},"long":{"type":"number","minimum":-180,"maximum":180,"description":"with lat"},"address_string":{"type":"string"},"description":{"type":"string","maxLength":4000},"first_name":{"type":"string"},"last_name":{"type":"string"},"phone":{"type":"string"},"email":{"type":"string"},"device_id":{"type":"string"},"account_id":{"type":"string"},"media_url":{"type":"string"}},"additionalProperties":{"type":"string","description":"attribute[CODE] per the service definition"}}"#,
        ),
        ok_status: 201,
    },
    RouteDoc {
        method: "get",
        path: "/open311/v2/requests.{format}",
        summary: "Open311 service requests (service_request_id, service_code, start_date, end_date, status); public fields only",
        tag: "open311",
        access: Access::Public,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/open311/v2/requests/{service_request_id}.{format}",
        summary: "Open311: one service request by its receipt code; public fields only",
        tag: "open311",
        access: Access::Public,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/open311/v2/tokens/{token}.{format}",
        summary: "Open311: the service request id for a token",
        tag: "open311",
        access: Access::Public,
        body: None,
        ok_status: 200,
    },
    RouteDoc {
        method: "get",
        path: "/open311/v2/servicerequestupdates.{format}",
        summary: "Open311 mySociety extension: status updates (start_date, end_date)",
        tag: "open311",
        access: Access::Public,
        body: None,
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
            r#"{"type":"object","required":["tree_size","root_hash","signatures"],"properties":{"tree_size":{"type":"integer","minimum":0},"root_hash":{"type":"string","minLength":1},"signatures":{"type":"array","minItems":1,"maxItems":16,"items":{"type":"string"}}}}"#,
        ),
        ok_status: 200,
    },
];

/// Routes whose request body is `multipart/form-data` rather than JSON.
const MULTIPART_BODIES: &[&str] = &["/api/v1/cases/{id}/attachments", "/api/v1/grid/reports"];
/// Routes that answer with a file rather than JSON.
const FILE_RESPONSES: &[&str] = &[
    "/api/v1/attachments/{id}",
    "/api/v1/attachments/{id}/public",
];

const OPEN311_ERROR_SCHEMA: &str = r#"{"type":"array","items":{"type":"object","required":["code","description"],"properties":{"code":{"type":"integer"},"description":{"type":"string"}}}}"#;

/// The `{name}` placeholders of a path, in order.
fn path_params(path: &str) -> Vec<&str> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .collect()
}

fn parse(schema: &str) -> Value {
    serde_json::from_str(schema).unwrap_or(Value::Null)
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        // Open311 answers in the format the path names, with its own errors.
        let open311 = route.path.starts_with("/open311/");
        let responses = if open311 {
            json!({
                route.ok_status.to_string(): {"description": "success", "content": {"application/json": {"schema": {}}, "text/xml": {"schema": {}}}},
                "default": {"description": "error: a list of {code, description}", "content": {"application/json": {"schema": parse(OPEN311_ERROR_SCHEMA)}, "text/xml": {"schema": {}}}},
            })
        } else if FILE_RESPONSES.contains(&route.path) {
            json!({
                route.ok_status.to_string(): {"description": "the file", "content": {"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}},
                "default": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            })
        } else {
            json!({
                route.ok_status.to_string(): {"description": "success", "content": {"application/json": {"schema": {"type": "object"}}}},
                "default": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            })
        };
        let body_type = if open311 {
            "application/x-www-form-urlencoded"
        } else if MULTIPART_BODIES.contains(&route.path) {
            "multipart/form-data"
        } else {
            "application/json"
        };
        let mut op = json!({
            "summary": route.summary,
            "tags": [route.tag],
            "responses": responses,
        });
        if let Some(obj) = op.as_object_mut() {
            if route.access == Access::Public {
                obj.insert("security".into(), json!([]));
            }
            if let Some(body) = route.body {
                obj.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {body_type: {"schema": parse(body)}}}),
                );
            }
            let mut params = Vec::new();
            for name in path_params(route.path) {
                let schema = if name == "format" {
                    json!({"enum": ["json", "xml"]})
                } else {
                    json!({"type": "string"})
                };
                params
                    .push(json!({"name": name, "in": "path", "required": true, "schema": schema}));
            }
            if route.path == "/api/v1/places/locate" {
                params.push(json!({"name": "lat", "in": "query", "required": true, "schema": {"type": "number", "minimum": -90, "maximum": 90}}));
                params.push(json!({"name": "lng", "in": "query", "required": true, "schema": {"type": "number", "minimum": -180, "maximum": 180}}));
            }
            if route.path == "/api/v1/indicators" {
                let date = json!({"type": "string", "format": "date"});
                params.push(json!({"name": "from", "in": "query", "required": false, "schema": date, "description": "first day (Asia/Shanghai or the configured zone); default: first day of this month"}));
                params.push(json!({"name": "to", "in": "query", "required": false, "schema": date, "description": "last day, inclusive; default: today"}));
                params.push(json!({"name": "pack", "in": "query", "required": false, "schema": {"type": "string", "default": "requests"}, "description": "a pack that declares indicators"}));
                params.push(json!({"name": "group", "in": "query", "required": false, "schema": {"enum": ["unit", "category", "area", "month", "field"], "default": "unit"}}));
                params.push(json!({"name": "field", "in": "query", "required": false, "schema": {"type": "string"}, "description": "with group=field: a choice or person field of the pack's type"}));
                params.push(json!({"name": "level", "in": "query", "required": false, "schema": {"enum": ["district", "street", "community"], "default": "district"}, "description": "with group=area"}));
                params.push(json!({"name": "category_level", "in": "query", "required": false, "schema": {"enum": ["1", "2", "3"], "default": "1"}, "description": "with group=category"}));
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
            "description": "Cases, units, places and accounts of a gongzhi instance. Errors are {code, message}; the Open311 GeoReport v2 routes answer in JSON or XML with the spec's error list.",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn body(doc: &Value, method: &str, path: &str) -> Value {
        let content = &doc["paths"][path][method]["requestBody"]["content"];
        content
            .as_object()
            .and_then(|c| c.values().next())
            .map(|c| c["schema"].clone())
            .unwrap_or_else(|| panic!("{method} {path}: no body schema"))
    }

    fn range(schema: &Value) -> (f64, f64) {
        (
            schema["minimum"].as_f64().unwrap_or(f64::NAN),
            schema["maximum"].as_f64().unwrap_or(f64::NAN),
        )
    }

    fn lengths(schema: &Value) -> (Option<u64>, Option<u64>) {
        (schema["minLength"].as_u64(), schema["maxLength"].as_u64())
    }

    fn max(n: usize) -> Option<u64> {
        Some(n as u64)
    }

    /// The numbers below are the server's own constants and checks.
    #[test]
    fn schemas_state_the_limits_the_server_checks() {
        use gongzhi_domain::engine::MAX_REASON_CHARS;
        let doc = document();

        // Coordinates: the store's and Open311's range checks.
        let cases = body(&doc, "post", "/api/v1/cases");
        assert_eq!(range(&cases["properties"]["lat"]), (-90.0, 90.0));
        assert_eq!(range(&cases["properties"]["lng"]), (-180.0, 180.0));
        let open311 = body(&doc, "post", "/open311/v2/requests.{format}");
        assert_eq!(range(&open311["properties"]["lat"]), (-90.0, 90.0));
        assert_eq!(range(&open311["properties"]["long"]), (-180.0, 180.0));
        let locate = doc["paths"]["/api/v1/places/locate"]["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let param = |name: &str| {
            locate
                .iter()
                .find(|p| p["name"] == name)
                .map(|p| range(&p["schema"]))
        };
        assert_eq!(param("lat"), Some((-90.0, 90.0)));
        assert_eq!(param("lng"), Some((-180.0, 180.0)));

        // Lengths.
        assert_eq!(
            lengths(&cases["properties"]["reason"]).1,
            max(MAX_REASON_CHARS)
        );
        let act = body(&doc, "post", "/api/v1/cases/{id}/actions");
        assert_eq!(
            lengths(&act["properties"]["reason"]).1,
            max(MAX_REASON_CHARS)
        );
        assert_eq!(
            lengths(&open311["properties"]["description"]).1,
            max(crate::open311::MAX_DESCRIPTION)
        );
        let reveal = body(&doc, "post", "/api/v1/cases/{id}/reveal");
        assert_eq!(
            lengths(&reveal["properties"]["purpose"]),
            (Some(1), Some(500))
        );
        let link = body(&doc, "post", "/api/v1/cases/{id}/links");
        assert_eq!(
            lengths(&link["properties"]["note"]).1,
            max(gongzhi_domain::link::MAX_NOTE_CHARS)
        );
        let unlink = body(&doc, "post", "/api/v1/cases/{id}/links/{link_id}/remove");
        assert_eq!(
            lengths(&unlink["properties"]["reason"]),
            (Some(1), max(gongzhi_store::MAX_REMOVE_REASON_CHARS))
        );
        let unparty = body(&doc, "post", "/api/v1/cases/{id}/parties/{party_id}/remove");
        assert_eq!(
            lengths(&unparty["properties"]["reason"]),
            (Some(1), max(gongzhi_store::MAX_PARTY_REMOVE_REASON))
        );
        let grid = body(&doc, "post", "/api/v1/grid/reports");
        assert_eq!(
            grid["properties"]["photo"]["maxItems"].as_u64(),
            max(crate::api::grid::MAX_PHOTOS)
        );
        let users = body(&doc, "post", "/api/v1/users");
        assert_eq!(
            lengths(&users["properties"]["password"]),
            (max(crate::auth::MIN_PASSWORD_LEN), Some(1024))
        );
        assert_eq!(
            lengths(&users["properties"]["display_name"]),
            (Some(1), Some(100))
        );
        assert_eq!(users["properties"]["roles"]["maxItems"], 50);
        let units = body(&doc, "post", "/api/v1/units");
        assert_eq!(lengths(&units["properties"]["code"]), (Some(1), Some(64)));
        assert_eq!(lengths(&units["properties"]["name"]), (Some(1), Some(100)));
        let cosign = body(&doc, "post", "/api/v1/log/cosignatures");
        assert_eq!(cosign["properties"]["signatures"]["minItems"], 1);
        assert_eq!(cosign["properties"]["signatures"]["maxItems"], 16);

        // The username pattern says what the store's check says.
        let pattern = users["properties"]["username"]["pattern"].as_str();
        assert_eq!(pattern, Some("^[A-Za-z0-9._-]{2,64}$"));
        let matches = |u: &str| {
            (2..=64).contains(&u.len())
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        let long = "a".repeat(65);
        for name in [
            "ab",
            "d1.admin",
            "x_y-z",
            "a",
            "中文名",
            "a b",
            long.as_str(),
        ] {
            assert_eq!(
                matches(name),
                gongzhi_store::validate_username(name).is_ok(),
                "{name}"
            );
        }
        // Roles are the packs' to declare: the schema names none of them.
        let role = &users["properties"]["roles"]["items"]["properties"]["role"];
        assert_eq!(role["type"], "string");
        assert!(role.get("enum").is_none());
    }

    /// Every required string of every request body is stated non-empty
    /// (the server refuses an empty one on each of these routes).
    #[test]
    fn required_strings_are_not_empty() {
        fn walk(schema: &Value, at: &str, found: &mut Vec<String>) {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if let Some(props) = schema["properties"].as_object() {
                for (name, prop) in props {
                    // A list of values says it by itself; files are not text.
                    let text = prop["type"] == "string"
                        && prop.get("enum").is_none()
                        && prop.get("contentMediaType").is_none()
                        && prop.get("format").is_none();
                    if required.contains(&name.as_str())
                        && text
                        && prop["minLength"].as_u64().unwrap_or(0) < 1
                    {
                        found.push(format!("{at}.{name}"));
                    }
                    walk(prop, &format!("{at}.{name}"), found);
                }
            }
            if schema.get("items").is_some() {
                walk(&schema["items"], &format!("{at}[]"), found);
            }
        }
        let doc = document();
        let mut found = Vec::new();
        for route in ROUTES.iter().filter(|r| r.body.is_some()) {
            let schema = body(&doc, route.method, route.path);
            assert!(
                schema.is_object(),
                "{}: the schema does not parse",
                route.path
            );
            walk(
                &schema,
                &format!("{} {}", route.method, route.path),
                &mut found,
            );
        }
        assert!(
            found.is_empty(),
            "required strings without minLength: {found:?}"
        );
    }
}
