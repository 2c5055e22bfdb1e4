//! Boots the real server on port 0 against a fresh database: a temporary SQLite
//! file, or a new PostgreSQL database when `GONGZHI_TEST_POSTGRES` holds a URL.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use gongzhi::BUILTIN_PACKS;
use gongzhi_domain::calendar::WorkCalendar;
use gongzhi_domain::pack::PackSet;
use gongzhi_domain::places::{geometry_to_geojson, parse_geometry};
use gongzhi_domain::role::Role;
use gongzhi_domain::unit::UnitKind;
use gongzhi_store::{Db, NewUnit};
use gongzhi_web::auth::token_hash;
use gongzhi_web::{AppState, ServerConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs one async test body on both backends. The PostgreSQL leg runs when
/// `GONGZHI_TEST_POSTGRES` is set (CI sets it) and says so when it is skipped.
#[macro_export]
macro_rules! db_test {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::harness::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::harness::postgres_url().is_some() {
                    super::$name($crate::harness::Backend::Postgres).await
                } else {
                    eprintln!("GONGZHI_TEST_POSTGRES not set: PostgreSQL leg not run");
                }
            }
        }
    };
}

pub fn postgres_url() -> Option<String> {
    std::env::var("GONGZHI_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
}

fn unique_name() -> String {
    format!("gz_test_{}", uuid_like())
}

fn uuid_like() -> String {
    gongzhi_domain::ids::new_id().replace('-', "")
}

/// A fresh, migrated database of the given kind. Returns it and its URL.
pub async fn fresh_db(backend: Backend) -> (Db, String, Option<tempdir::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempdir::TempDir::new();
            let url = format!("sqlite://{}", dir.path.join("test.db").display());
            let db = Db::connect(&url).await.expect("open sqlite");
            db.migrate().await.expect("migrate sqlite");
            (db, url, Some(dir))
        }
        Backend::Postgres => {
            let base = postgres_url().expect("GONGZHI_TEST_POSTGRES");
            let name = unique_name();
            let admin = Db::connect(&base).await.expect("connect postgres");
            if let Db::Postgres(pool) = &admin {
                sqlx_exec(pool, &format!("CREATE DATABASE {name}")).await;
            }
            admin.close().await;
            let url = replace_db_name(&base, &name);
            let db = Db::connect(&url)
                .await
                .expect("open postgres test database");
            db.migrate().await.expect("migrate postgres");
            (db, url, None)
        }
    }
}

async fn sqlx_exec(pool: &sqlx::PgPool, sql: &str) {
    sqlx::query(sql).execute(pool).await.expect(sql);
}

/// `postgres://host:5432/test?x` → `postgres://host:5432/NAME?x`.
fn replace_db_name(url: &str, name: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

pub mod tempdir {
    use std::path::PathBuf;

    /// A temporary folder removed when dropped.
    pub struct TempDir {
        pub path: PathBuf,
    }

    impl TempDir {
        pub fn new() -> TempDir {
            let path = std::env::temp_dir().join(format!("gongzhi-test-{}", super::uuid_like()));
            std::fs::create_dir_all(&path).expect("temp dir");
            TempDir { path }
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The small test city:
///
/// ```text
/// C (city)                       lng 113.0–113.4, lat 28.0–28.2
/// ├── D1 (district, west half)   └── S1 └── M1 ├── G1a (south) └── G1b (north)
/// ├── D2 (district, east half)   └── S2 └── M2 ├── G2a         └── G2b
/// ├── CG (city department)
/// └── D1 / D1-CG (district department under D1)
/// ```
pub struct TestApp {
    pub addr: SocketAddr,
    pub db: Db,
    pub state: AppState,
    pub client: Client,
    /// Unit code → id.
    pub units: BTreeMap<String, String>,
    /// API keys by user name, e.g. "d1.handler" → key.
    pub keys: BTreeMap<String, String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    backend: Backend,
    url: String,
    _dir: Option<tempdir::TempDir>,
    /// The server's data folder (attachments under `blobs/`).
    pub data: tempdir::TempDir,
}

pub fn square(min_lng: f64, min_lat: f64, max_lng: f64, max_lat: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[min_lng, min_lat], [max_lng, min_lat], [max_lng, max_lat], [min_lng, max_lat], [min_lng, min_lat]]]})
}

fn new_unit(
    code: &str,
    parent: Option<&str>,
    kind: UnitKind,
    name: &str,
    geometry: Option<Value>,
) -> NewUnit {
    let geometry = geometry.map(|g| {
        let shape = parse_geometry(&g).expect("test polygon");
        use geo::BoundingRect;
        let r = shape.bounding_rect().expect("bbox");
        (
            geometry_to_geojson(&shape).to_string(),
            [r.min().x, r.min().y, r.max().x, r.max().y],
        )
    });
    NewUnit {
        id: format!("u-{code}"),
        parent_id: parent.map(|p| format!("u-{p}")),
        kind,
        code: code.into(),
        name: name.into(),
        geometry,
    }
}

/// Every role the built-in packs declare, and admin: the matrix tests walk
/// them all, so a pack's new role is covered without naming it here.
pub fn all_roles() -> Vec<Role> {
    test_packs().roles().map(|d| d.role).collect()
}

/// Whether holders of `role` see every case of their subtree, rather than
/// only those assigned to them in person (`sees = "assigned"`).
pub fn sees_subtree(role: Role) -> bool {
    test_packs()
        .role(role.as_str())
        .is_some_and(|d| d.sees == gongzhi_domain::pack::Sees::Subtree)
}

pub fn test_packs() -> PackSet {
    let sources: Vec<(String, String)> = BUILTIN_PACKS
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    PackSet::from_sources(&sources).expect("built-in packs load")
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, ServerConfig::default()).await
}

pub async fn spawn_app_with(backend: Backend, mut config: ServerConfig) -> TestApp {
    let (db, url, dir) = fresh_db(backend).await;
    // Every app gets its own data folder, whichever the database.
    let data = tempdir::TempDir::new();
    config.data_dir = data.path.clone();
    let units = vec![
        new_unit(
            "C",
            None,
            UnitKind::City,
            "测试市",
            Some(square(113.0, 28.0, 113.4, 28.2)),
        ),
        new_unit(
            "D1",
            Some("C"),
            UnitKind::District,
            "一区",
            Some(square(113.0, 28.0, 113.2, 28.2)),
        ),
        new_unit(
            "D2",
            Some("C"),
            UnitKind::District,
            "二区",
            Some(square(113.2, 28.0, 113.4, 28.2)),
        ),
        new_unit(
            "S1",
            Some("D1"),
            UnitKind::Street,
            "一街道",
            Some(square(113.0, 28.0, 113.2, 28.2)),
        ),
        new_unit(
            "S2",
            Some("D2"),
            UnitKind::Street,
            "二街道",
            Some(square(113.2, 28.0, 113.4, 28.2)),
        ),
        new_unit(
            "M1",
            Some("S1"),
            UnitKind::Community,
            "一社区",
            Some(square(113.0, 28.0, 113.2, 28.2)),
        ),
        new_unit(
            "M2",
            Some("S2"),
            UnitKind::Community,
            "二社区",
            Some(square(113.2, 28.0, 113.4, 28.2)),
        ),
        new_unit(
            "G1a",
            Some("M1"),
            UnitKind::Grid,
            "一网格南",
            Some(square(113.0, 28.0, 113.2, 28.1)),
        ),
        new_unit(
            "G1b",
            Some("M1"),
            UnitKind::Grid,
            "一网格北",
            Some(square(113.0, 28.1, 113.2, 28.2)),
        ),
        new_unit(
            "G2a",
            Some("M2"),
            UnitKind::Grid,
            "二网格南",
            Some(square(113.2, 28.0, 113.4, 28.1)),
        ),
        new_unit(
            "G2b",
            Some("M2"),
            UnitKind::Grid,
            "二网格北",
            Some(square(113.2, 28.1, 113.4, 28.2)),
        ),
        new_unit("CG", Some("C"), UnitKind::Department, "市城管局", None),
        new_unit(
            "D1-CG",
            Some("D1"),
            UnitKind::Department,
            "一区城管局",
            None,
        ),
    ];
    let codes: BTreeMap<String, String> = units
        .iter()
        .map(|u| (u.code.clone(), u.id.clone()))
        .collect();
    db.insert_units(units).await.expect("test units");

    // One system user per role in D1 and in D2 (API keys: no slow password hashing),
    // plus a handler in the D1 department and city-wide staff.
    let mut keys = BTreeMap::new();
    let mut grants: Vec<(String, Role, &str)> = Vec::new();
    for role in all_roles() {
        grants.push((format!("d1.{}", role.as_str()), role, "D1"));
        grants.push((format!("d2.{}", role.as_str()), role, "D2"));
    }
    grants.push(("cg.handler".into(), Role::intern("handler"), "D1-CG"));
    grants.push(("citycg.handler".into(), Role::intern("handler"), "CG"));
    grants.push(("city.admin".into(), Role::ADMIN, "C"));
    grants.push(("city.dispatcher".into(), Role::intern("dispatcher"), "C"));
    grants.push((
        "city.invited_mediator".into(),
        Role::intern("invited_mediator"),
        "C",
    ));
    grants.push(("grid.g1a".into(), Role::intern("grid_worker"), "G1a"));
    for (name, role, unit) in grants {
        let user = db.create_user(&name, &name, None).await.expect("user");
        db.grant_role(&user.id, role, &codes[unit])
            .await
            .expect("grant");
        let key = format!("gz_test_{}", uuid_like());
        db.create_api_key(&user.id, "test", &token_hash(&key), "gz_test")
            .await
            .expect("key");
        keys.insert(name, key);
    }

    // The shipped rules name the demo city's units; the test city adds its own.
    let test_rules = r#"
[[rule]]
id = "test_construction_d1"
category = "R01"
area = "D1"
lead = "D1-CG"
assist = ["CG"]
"#;
    let taxonomies = gongzhi_web::state::taxonomy::Taxonomies::load(&[(
        "tests/routing.toml".into(),
        test_rules.into(),
    )])
    .expect("taxonomies");
    let state = AppState::new(
        db.clone(),
        test_packs(),
        WorkCalendar::builtin(),
        taxonomies,
        config,
    )
    .await
    .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let server_state = state.clone();
    let server = tokio::spawn(async move {
        gongzhi_web::serve(listener, server_state, async {
            let _ = rx.await;
        })
        .await
        .expect("server");
    });
    let client = Client::builder().build().expect("client");
    TestApp {
        addr,
        db,
        state,
        client,
        units: codes,
        keys,
        shutdown: Some(tx),
        server: Some(server),
        backend,
        url,
        _dir: dir,
        data,
    }
}

/// A response: status and JSON body (Null when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn unit(&self, code: &str) -> String {
        self.units[code].clone()
    }

    /// Sends a request as `user` (an API key name) or anonymously.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(user) = user {
            req = req.bearer_auth(&self.keys[user]);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, path: &str, user: &str) -> Reply {
        self.call(Method::GET, path, Some(user), None).await
    }

    pub async fn post(&self, path: &str, user: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(user), Some(body)).await
    }

    /// Creates a generic item in grid G1a as the D1 operator; returns its id.
    pub async fn create_item(&self, title: &str) -> String {
        let r = self
            .post(
                "/api/v1/cases",
                "d1.operator",
                json!({"pack": "generic", "case_type": "item", "lng": 113.1, "lat": 28.05,
                       "fields": {"title": title, "contact_phone": "13812345678", "contact_name": "张三"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["id"].as_str().expect("case id").to_string()
    }

    /// Creates a citizen request in grid G1a as the D1 operator; returns its id.
    pub async fn create_request(&self, title: &str) -> String {
        let r = self
            .post(
                "/api/v1/cases",
                "d1.operator",
                json!({"pack": "requests", "case_type": "request", "lng": 113.1, "lat": 28.05,
                       "fields": {"title": title, "description": "详细情况", "channel": "hotline",
                                  "contact_phone": "13912345678"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["id"].as_str().expect("case id").to_string()
    }

    /// Uploads `bytes` as the multipart field `file` named `name`.
    pub async fn upload(
        &self,
        case: &str,
        user: Option<&str>,
        name: &str,
        bytes: Vec<u8>,
    ) -> Reply {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_string())
            // What a client claims; the server must not believe it.
            .mime_str("image/jpeg")
            .expect("mime");
        let form = reqwest::multipart::Form::new().part("file", part);
        let mut req = self
            .client
            .post(self.url(&format!("/api/v1/cases/{case}/attachments")))
            .multipart(form);
        if let Some(user) = user {
            req = req.bearer_auth(&self.keys[user]);
        }
        let res = req.send().await.expect("upload");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// A GET that returns the raw response (for file downloads).
    pub async fn get_raw(&self, path: &str, user: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.keys[user])
            .send()
            .await
            .expect("request")
    }

    /// Every file under the data folder's `blobs/`.
    pub fn blob_files(&self) -> Vec<std::path::PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        walk(&path, out);
                    } else {
                        out.push(path);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data.path.join("blobs"), &mut out);
        out.sort();
        out
    }

    pub async fn act(&self, case: &str, user: &str, body: Value) -> Reply {
        self.post(&format!("/api/v1/cases/{case}/actions"), user, body)
            .await
    }

    /// Stops the server (and its workers) but keeps the database, so a test can
    /// work on it undisturbed; `stop` still cleans up afterwards.
    pub async fn stop_server(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// Waits until a signed checkpoint covers every log entry; returns its size.
    pub async fn wait_for_checkpoint(&self) -> u64 {
        let want = self.db.log_size().await.expect("log size");
        for _ in 0..100 {
            let r = self
                .call(Method::GET, "/api/v1/log/checkpoint", None, None)
                .await;
            if let Some(size) = r.body["tree_size"].as_u64()
                && size >= want
            {
                return size;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no checkpoint of size {want} within 5 s");
    }

    /// Runs raw SQL on the test database, whichever the backend.
    pub async fn exec(&self, sql: &str) {
        match &self.db {
            Db::Sqlite(pool) => {
                sqlx::raw_sql(sql).execute(pool).await.expect(sql);
            }
            Db::Postgres(pool) => {
                sqlx::raw_sql(sql).execute(pool).await.expect(sql);
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database URL (a PostgreSQL test database's, or the SQLite file's).
    pub fn database_url(&self) -> &str {
        &self.url
    }

    /// Stops the server gracefully and drops a PostgreSQL test database.
    pub async fn stop(mut self) {
        self.stop_server().await;
        self.db.close().await;
        if self.backend == Backend::Postgres
            && let Some(base) = postgres_url()
        {
            let name = self
                .url
                .rsplit('/')
                .next()
                .unwrap_or("")
                .split('?')
                .next()
                .unwrap_or("")
                .to_string();
            if let Ok(Db::Postgres(pool)) = Db::connect(&base).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&pool)
                    .await;
                pool.close().await;
            }
        }
    }
}
