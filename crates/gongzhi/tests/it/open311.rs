//! Open311 GeoReport v2: discovery, services and their definitions, creating
//! requests with an API key, public reads without personal data, filters,
//! tokens, the mySociety update feed, and the spec's errors, in JSON and XML.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, spawn_app};

/// A raw answer: status, content type and body text.
struct Raw {
    status: StatusCode,
    content_type: String,
    text: String,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

async fn get(app: &TestApp, path: &str) -> Raw {
    let res = app.client.get(app.url(path)).send().await.expect("request");
    raw(res).await
}

async fn raw(res: reqwest::Response) -> Raw {
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Raw {
        status,
        content_type,
        text: res.text().await.unwrap_or_default(),
    }
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// POSTs form fields to `path`.
async fn post_form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> Raw {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let res = app
        .client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"))
        .send()
        .await
        .expect("request");
    raw(res).await
}

/// A minimal well-formedness check: one root, tags balanced and nested,
/// no stray `<` or `&` in text. Returns the root element's name.
fn check_xml(text: &str) -> String {
    let body = text
        .strip_prefix("<?xml version=\"1.0\" encoding=\"utf-8\"?>")
        .unwrap_or_else(|| panic!("no XML declaration: {text}"));
    let mut stack: Vec<String> = Vec::new();
    let mut root = None;
    let mut rest = body;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('<') {
            let end = after.find('>').expect("unclosed tag");
            let tag = &after[..end];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else {
                assert!(
                    !tag.is_empty() && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "bad tag <{tag}>"
                );
                assert!(!(stack.is_empty() && root.is_some()), "two roots: {text}");
                root.get_or_insert_with(|| tag.to_string());
                stack.push(tag.to_string());
            }
            rest = &after[end + 1..];
        } else {
            assert!(!stack.is_empty(), "text outside the root: {text}");
            let end = rest.find('<').unwrap_or(rest.len());
            let chunk = &rest[..end];
            for (i, _) in chunk.match_indices('&') {
                let entity = &chunk[i..];
                assert!(
                    ["&lt;", "&gt;", "&amp;", "&quot;", "&apos;"]
                        .iter()
                        .any(|e| entity.starts_with(e)),
                    "bad entity in {chunk}"
                );
            }
            rest = &rest[end..];
        }
    }
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    root.expect("a root element")
}

const SERVICE: &str = "R01.02.14"; // 环境卫生: a leaf
const OTHER_SERVICE: &str = "E01.02"; // 暴露垃圾: a leaf

async fn create(app: &TestApp, service: &str, description: &str) -> String {
    let r = post_form(
        app,
        "/open311/v2/requests.json",
        &[
            ("api_key", &app.keys["d1.operator"]),
            ("service_code", service),
            ("lat", "28.05"),
            ("long", "113.1"),
            ("description", description),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.json()[0]["service_request_id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn discovery_and_services(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = get(&app, "/open311/v2/discovery.json").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.content_type.starts_with("application/json"));
    let d = r.json();
    assert_eq!(
        d["endpoints"][0]["specification"],
        "http://wiki.open311.org/GeoReport_v2"
    );
    assert_eq!(
        d["endpoints"][0]["formats"],
        json!(["application/json", "text/xml"])
    );
    assert!(
        d["endpoints"][0]["url"]
            .as_str()
            .expect("url")
            .ends_with("/open311/v2")
    );
    let r = get(&app, "/open311/v2/discovery.xml").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type.starts_with("text/xml"));
    assert_eq!(check_xml(&r.text), "discovery");
    assert!(
        r.text.contains(
            "<formats><format>application/json</format><format>text/xml</format></formats>"
        )
    );

    // The newcomer check: services.json answers 200 without any login.
    let r = get(&app, "/open311/v2/services.json").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let services = r.json();
    let list = services.as_array().expect("a list");
    let leaf = list
        .iter()
        .find(|s| s["service_code"] == SERVICE)
        .expect("leaf service listed");
    assert_eq!(leaf["service_name"], "环境卫生");
    assert_eq!(leaf["group"], "城乡建设");
    assert_eq!(leaf["metadata"], true);
    assert_eq!(leaf["type"], "realtime");
    assert!(list.iter().any(|s| s["service_code"] == OTHER_SERVICE));
    assert!(
        !list.iter().any(|s| s["service_code"] == "R01"),
        "first-level categories are groups, not services"
    );
    let en = get(&app, "/open311/v2/services.json?locale=en")
        .await
        .json();
    let leaf_en = en
        .as_array()
        .expect("list")
        .iter()
        .find(|s| s["service_code"] == OTHER_SERVICE)
        .expect("listed")
        .clone();
    assert_eq!(leaf_en["service_name"], "Exposed rubbish");

    let r = get(&app, "/open311/v2/services.xml").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(check_xml(&r.text), "services");
    assert!(r.text.contains(&format!(
        "<service><service_code>{SERVICE}</service_code><service_name>环境卫生</service_name>"
    )));

    // The definition lists the attributes a client may send.
    let r = get(&app, &format!("/open311/v2/services/{SERVICE}.json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let def = r.json();
    assert_eq!(def["service_code"], SERVICE);
    let urgency = def["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .find(|a| a["code"] == "urgency")
        .expect("urgency attribute")
        .clone();
    assert_eq!(urgency["datatype"], "singlevaluelist");
    assert_eq!(urgency["variable"], true);
    assert_eq!(urgency["required"], false);
    assert_eq!(urgency["order"], 1);
    assert!(
        urgency["values"]
            .as_array()
            .expect("values")
            .contains(&json!({"key": "urgent", "name": "紧急"}))
    );
    let r = get(&app, &format!("/open311/v2/services/{SERVICE}.xml")).await;
    assert_eq!(check_xml(&r.text), "service_definition");
    assert!(r.text.contains("<attributes><attribute><variable>true</variable><code>urgency</code><datatype>singlevaluelist</datatype>"));
    assert!(
        r.text
            .contains("<values><value><key>general</key><name>一般</name></value>")
    );

    // Errors: the spec's list of {code, description}, in the asked format.
    let r = get(&app, "/open311/v2/services/R01.json").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()[0]["code"], 404);
    let r = get(&app, "/open311/v2/services/NOPE.xml").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(check_xml(&r.text), "errors");
    assert!(
        r.text
            .contains("<errors><error><code>404</code><description>")
    );
    let r = get(&app, "/open311/v2/services.csv").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()[0]["code"], 400);
    let r = get(&app, "/open311/v2/services").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()[0]["description"].is_string());
    let r = get(&app, "/open311/v2/nothing.json").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()[0]["code"], 404);
    app.stop().await;
}
crate::db_test!(discovery_and_services);

async fn create_and_read_without_personal_data(backend: Backend) {
    let app = spawn_app(backend).await;
    let description = "垃圾堆放多日无人清理，请尽快处理。联系我 13912345678";
    let r = post_form(
        &app,
        "/open311/v2/requests.xml",
        &[
            ("api_key", &app.keys["d1.operator"]),
            ("service_code", SERVICE),
            ("lat", "28.05"),
            ("long", "113.1"),
            ("address_string", "幸福小区3栋2单元502室"),
            ("description", description),
            ("first_name", "小明"),
            ("last_name", "王"),
            ("phone", "13912345678"),
            ("email", "wang@example.org"),
            ("device_id", "device-1"),
            ("attribute[urgency]", "urgent"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(check_xml(&r.text), "service_requests");
    let start = r.text.find("<service_request_id>").expect("id") + "<service_request_id>".len();
    let end = r.text.find("</service_request_id>").expect("id end");
    let id = r.text[start..end].to_string();
    assert_eq!(
        gongzhi_domain::ids::normalize_receipt_code(&id).as_deref(),
        Some(id.as_str()),
        "the id is the receipt code"
    );
    assert!(r.text.contains("<account_id></account_id>"));

    // The case holds what handling needs: channel, category, contact; no email.
    let case = app
        .db
        .case_by_receipt(&id)
        .await
        .expect("read")
        .expect("case exists");
    assert_eq!(case.fields["channel"], "open311");
    assert_eq!(case.fields["category"], SERVICE);
    assert_eq!(case.fields["urgency"], "urgent");
    assert_eq!(case.fields["contact_name"], "王小明");
    assert_eq!(case.fields["contact_phone"], "13912345678");
    assert_eq!(
        case.fields["title"],
        "垃圾堆放多日无人清理，请尽快处理。联系我 13912345678"
    );
    assert!(
        !serde_json::to_string(&case.fields)
            .expect("json")
            .contains("example.org")
    );

    // Public reads: no name, phone, email or typed address.
    let r = get(&app, &format!("/open311/v2/requests/{id}.json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for secret in ["13912345678", "小明", "wang@", "502室", "d1.operator"] {
        assert!(!r.text.contains(secret), "{secret} leaked: {}", r.text);
    }
    let list = r.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let req = &list[0];
    assert_eq!(req["service_request_id"], id.as_str());
    assert_eq!(req["status"], "open");
    assert_eq!(req["extended_attributes"]["status"], "open");
    assert_eq!(req["service_code"], SERVICE);
    assert_eq!(req["service_name"], "环境卫生");
    assert_eq!(
        req["description"],
        "垃圾堆放多日无人清理，请尽快处理。联系我 ***"
    );
    assert_eq!(req["address"], "一区 一街道 一社区");
    assert_eq!(req["lat"], 28.05);
    assert_eq!(req["long"], 113.1);
    assert_eq!(req["agency_responsible"], "一区");
    let requested = req["requested_datetime"].as_str().expect("datetime");
    assert!(requested.ends_with("+08:00"), "{requested}");
    assert!(
        gongzhi_domain::time::parse_rfc3339(requested).is_some(),
        "{requested}"
    );
    let r = get(&app, &format!("/open311/v2/requests/{id}.xml")).await;
    assert_eq!(check_xml(&r.text), "service_requests");
    assert!(r.text.contains(&format!(
        "<service_requests><request><service_request_id>{id}</service_request_id><status>open</status>"
    )));
    assert!(!r.text.contains("13912345678"));
    // Lower case and without hyphens, a typed code still finds it.
    let loose = id.replace('-', "").to_lowercase();
    let r = get(&app, &format!("/open311/v2/requests/{loose}.json")).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get(&app, "/open311/v2/requests/K7M-4Q9X-2.json").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()[0]["code"], 404);

    // Tokens: the receipt code is its own token.
    let r = get(&app, &format!("/open311/v2/tokens/{id}.json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()[0]["service_request_id"], id.as_str());
    assert_eq!(r.json()[0]["token"], id.as_str());
    let r = get(&app, "/open311/v2/tokens/unknown.xml").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(check_xml(&r.text), "errors");

    // Other packs' cases never show: a generic item in the same place.
    let item = app.create_item("不是诉求").await;
    let all = get(&app, "/open311/v2/requests.json").await.json();
    assert_eq!(ids(&all), vec![id.clone()]);
    let item_code = app
        .db
        .case_unscoped(&item)
        .await
        .expect("read")
        .expect("item")
        .receipt_code;
    let r = get(&app, &format!("/open311/v2/requests/{item_code}.json")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A retry with the same Idempotency-Key answers 200 with the same id.
    let retry = || async {
        let res = app
            .client
            .post(app.url("/open311/v2/requests.json"))
            .header("idempotency-key", "client-retry-1")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "api_key={}&service_code={SERVICE}&lat=28.05&long=113.1",
                encode(&app.keys["d1.operator"])
            ))
            .send()
            .await
            .expect("request");
        raw(res).await
    };
    let first_try = retry().await;
    assert_eq!(first_try.status, StatusCode::CREATED, "{}", first_try.text);
    let second_try = retry().await;
    assert_eq!(second_try.status, StatusCode::OK, "{}", second_try.text);
    assert_eq!(
        first_try.json()[0]["service_request_id"],
        second_try.json()[0]["service_request_id"]
    );

    // Bearer authentication works as well as the api_key field.
    let res = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .bearer_auth(&app.keys["d1.operator"])
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "service_code={OTHER_SERVICE}&address_string=%E4%B8%80%E5%8C%BA"
        ))
        .send()
        .await
        .expect("request");
    let r = raw(res).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Without a point the case has no area; the typed address stays private.
    let other = r.json()[0]["service_request_id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = get(&app, &format!("/open311/v2/requests/{other}.json")).await;
    assert_eq!(r.json()[0]["address"], Value::Null);
    assert_eq!(r.json()[0]["lat"], Value::Null);
    app.stop().await;
}
crate::db_test!(create_and_read_without_personal_data);

async fn create_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.keys["d1.operator"].clone();
    let base = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, String)> = vec![
            ("service_code", SERVICE.to_string()),
            ("lat", "28.05".into()),
            ("long", "113.1".into()),
        ];
        for (k, x) in extra {
            v.retain(|(key, _)| key != k);
            v.push((*k, x.to_string()));
        }
        v
    };
    async fn send(app: &TestApp, path: &str, fields: &[(&str, String)]) -> Raw {
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post_form(app, path, &borrowed).await
    }
    let with_key = |mut v: Vec<(&'static str, String)>, k: &str| {
        v.push(("api_key", k.to_string()));
        v
    };

    // No key, a wrong key, a key without the operator role: 403.
    let r = send(&app, "/open311/v2/requests.json", &base(&[])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.json()[0]["code"], 403);
    let r = send(
        &app,
        "/open311/v2/requests.xml",
        &with_key(base(&[]), "nope"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(check_xml(&r.text), "errors");
    let r = send(
        &app,
        "/open311/v2/requests.json",
        &with_key(base(&[]), &app.keys["d1.handler"]),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let cases = |extra: &[(&'static str, &'static str)]| with_key(base(extra), &key);
    for (label, fields) in [
        ("unknown service", cases(&[("service_code", "R99.99")])),
        ("group, not a service", cases(&[("service_code", "R01")])),
        ("missing service", {
            let mut v = cases(&[]);
            v.retain(|(k, _)| *k != "service_code");
            v
        }),
        ("lat without long", {
            let mut v = cases(&[]);
            v.retain(|(k, _)| *k != "long");
            v
        }),
        ("no location", {
            let mut v = cases(&[]);
            v.retain(|(k, _)| *k != "long" && *k != "lat");
            v
        }),
        ("address_id only", {
            let mut v = cases(&[("address_id", "123")]);
            v.retain(|(k, _)| *k != "long" && *k != "lat");
            v
        }),
        ("bad latitude", cases(&[("lat", "north")])),
        (
            "unknown attribute",
            cases(&[("attribute[internal_note]", "x")]),
        ),
        (
            "bad attribute value",
            cases(&[("attribute[urgency]", "now")]),
        ),
        ("bad phone", cases(&[("phone", "call me")])),
    ] {
        let r = send(&app, "/open311/v2/requests.json", &fields).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{label}: {}", r.text);
        assert_eq!(r.json()[0]["code"], 400, "{label}");
        assert!(r.json()[0]["description"].is_string(), "{label}");
    }

    // The description limit is 4,000 characters, counted as characters.
    let mut long = cases(&[]);
    long.push(("description", "路".repeat(4001)));
    let r = send(&app, "/open311/v2/requests.json", &long).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(
        r.json()[0]["description"]
            .as_str()
            .unwrap_or("")
            .contains("4000")
    );
    let mut max = cases(&[]);
    max.push(("description", "路".repeat(4000)));
    let r = send(&app, "/open311/v2/requests.json", &max).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    // A JSON body is not what the spec sends.
    let res = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .json(&json!({"api_key": key, "service_code": SERVICE}))
        .send()
        .await
        .expect("request");
    let r = raw(res).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // Only requests can be posted; unknown formats answer in JSON.
    let r = send(&app, "/open311/v2/services.json", &cases(&[])).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()[0]["code"], 405);
    let r = send(&app, "/open311/v2/requests.html", &cases(&[])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()[0]["code"], 400);
    app.stop().await;
}
crate::db_test!(create_errors);

async fn act(app: &TestApp, case: &str, user: &str, body: Value) {
    let r = app.act(case, user, body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{user} {body}: {:?}", r.body);
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn filters_and_updates(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = create(&app, SERVICE, "路边垃圾").await;
    let second = create(&app, OTHER_SERVICE, "绿化带垃圾").await;
    let case = app
        .db
        .case_by_receipt(&first)
        .await
        .expect("read")
        .expect("case")
        .id;

    // Handle the first one to the end, with an internal note on the way.
    act(
        &app,
        &case,
        "d1.dispatcher",
        json!({"action": "dispatch", "target_unit": app.unit("D1-CG"),
        "fields": {"internal_note": "内部备注：请王科长跟进"}}),
    )
    .await;
    let r = get(&app, &format!("/open311/v2/requests/{first}.json")).await;
    assert_eq!(r.json()[0]["agency_responsible"], "一区城管局");
    assert_eq!(r.json()[0]["expected_datetime"], Value::Null);
    act(&app, &case, "cg.handler", json!({"action": "accept"})).await;
    let r = get(&app, &format!("/open311/v2/requests/{first}.json")).await;
    assert_eq!(r.json()[0]["extended_attributes"]["status"], "in_progress");
    let expected = r.json()[0]["expected_datetime"]
        .as_str()
        .expect("the handling deadline")
        .to_string();
    assert!(expected.ends_with("+08:00"), "{expected}");
    act(
        &app,
        &case,
        "cg.handler",
        json!({"action": "report",
        "fields": {"result": "已清运完毕", "outcome": "resolved"}}),
    )
    .await;
    act(
        &app,
        &case,
        "d1.operator",
        json!({"action": "follow_up", "fields": {"satisfaction": "satisfied"}}),
    )
    .await;
    act(
        &app,
        &case,
        "d1.dispatcher",
        json!({"action": "verify", "fields": {"verification": "passed"}}),
    )
    .await;
    act(&app, &case, "d1.dispatcher", json!({"action": "close"})).await;

    let r = get(&app, &format!("/open311/v2/requests/{first}.json")).await;
    let req = &r.json()[0];
    assert_eq!(req["status"], "closed");
    assert_eq!(req["extended_attributes"]["status"], "fixed");
    assert_eq!(req["status_notes"], "已办结：已解决。已清运完毕");
    for secret in ["内部备注", "王科长", "d1.dispatcher", "cg.handler"] {
        assert!(!r.text.contains(secret), "{secret} leaked");
    }

    // status, service_code, dates; newest first.
    let all = get(&app, "/open311/v2/requests.json").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    assert_eq!(ids(&all.json()), vec![second.clone(), first.clone()]);
    let closed = get(&app, "/open311/v2/requests.json?status=closed")
        .await
        .json();
    assert_eq!(ids(&closed), vec![first.clone()]);
    let open = get(&app, "/open311/v2/requests.json?status=open")
        .await
        .json();
    assert_eq!(ids(&open), vec![second.clone()]);
    let both = get(&app, "/open311/v2/requests.json?status=open,closed")
        .await
        .json();
    assert_eq!(ids(&both).len(), 2);
    let by_service = get(
        &app,
        &format!("/open311/v2/requests.json?service_code={OTHER_SERVICE}"),
    )
    .await
    .json();
    assert_eq!(ids(&by_service), vec![second.clone()]);
    let future = get(
        &app,
        "/open311/v2/requests.json?start_date=2099-01-01T00:00:00%2B08:00",
    )
    .await
    .json();
    assert!(ids(&future).is_empty());
    let past = get(
        &app,
        "/open311/v2/requests.json?end_date=2020-01-01T00:00:00Z",
    )
    .await
    .json();
    assert!(ids(&past).is_empty());
    let window = get(
        &app,
        "/open311/v2/requests.json?start_date=2020-01-01&end_date=2099-12-31&jurisdiction_id=test",
    )
    .await
    .json();
    assert_eq!(ids(&window).len(), 2);
    // A list of ids overrides every other filter.
    let by_id = get(
        &app,
        &format!("/open311/v2/requests.json?service_request_id={first},{second}&status=open&start_date=2099-01-01"),
    )
    .await
    .json();
    assert_eq!(ids(&by_id).len(), 2);
    let xml = get(&app, "/open311/v2/requests.xml?status=closed").await;
    assert_eq!(check_xml(&xml.text), "service_requests");
    assert!(
        xml.text
            .contains("<extended_attributes><status>fixed</status></extended_attributes>")
    );
    for (query, label) in [
        ("status=pending", "bad status"),
        ("start_date=yesterday", "bad date"),
        (
            "start_date=2026-02-01&end_date=2026-01-01",
            "reversed range",
        ),
    ] {
        let r = get(&app, &format!("/open311/v2/requests.json?{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{label}: {}", r.text);
        assert_eq!(r.json()[0]["code"], 400);
    }

    // The update feed: status changes a citizen would see, in order.
    let r = get(&app, "/open311/v2/servicerequestupdates.json").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let updates = r.json();
    let mine: Vec<&Value> = updates
        .as_array()
        .expect("a list")
        .iter()
        .filter(|u| u["service_request_id"] == first.as_str())
        .collect();
    let statuses: Vec<&str> = mine
        .iter()
        .map(|u| u["status"].as_str().unwrap_or(""))
        .collect();
    // dispatch (open → open) and the follow-up steps change nothing public.
    assert_eq!(
        statuses,
        vec!["in_progress", "in_progress", "fixed"],
        "{mine:?}"
    );
    assert_eq!(mine[1]["description"], "办理中。已清运完毕");
    assert!(
        mine[2]["updated_datetime"]
            .as_str()
            .unwrap_or("")
            .ends_with("+08:00")
    );
    let seqs: Vec<i64> = mine
        .iter()
        .map(|u| {
            u["update_id"]
                .as_str()
                .unwrap_or("")
                .parse()
                .expect("number")
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    for secret in ["内部备注", "王科长", "d1.dispatcher"] {
        assert!(!r.text.contains(secret), "{secret} leaked");
    }
    let r = get(&app, "/open311/v2/servicerequestupdates.xml?locale=en").await;
    assert_eq!(check_xml(&r.text), "service_request_updates");
    assert!(r.text.contains("<request_update><update_id>"));
    assert!(r.text.contains("<status>fixed</status>"));
    assert!(r.text.contains("Closed: resolved"));
    let r = get(
        &app,
        "/open311/v2/servicerequestupdates.json?end_date=2020-01-01",
    )
    .await;
    assert_eq!(r.json(), json!([]));
    app.stop().await;
}
crate::db_test!(filters_and_updates);
