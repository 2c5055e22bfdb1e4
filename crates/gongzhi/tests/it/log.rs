//! The tamper-evident log: tamper with a real database and expect the exact
//! report; bundles verified offline; two instances witnessing each other.

use reqwest::StatusCode;
use serde_json::json;

use gongzhi::audit::{Finding, ReadPath, VerifyError, verify_log};
use gongzhi_domain::checkpoint::{
    Bundle, KeySigner, KeyVerifier, TreeHead, generate_key, sign_checkpoint,
};
use gongzhi_domain::log::LogEntry;
use gongzhi_store::Db;
use gongzhi_web::{LogConfig, ServerConfig};

use crate::harness::{Backend, TestApp, spawn_app_with, tempdir::TempDir};

pub(crate) const ORIGIN: &str = "test.gongzhi/log";

pub(crate) fn signer(name: &str, witness: bool) -> KeySigner {
    let (skey, _) = generate_key(name, witness).expect("key");
    KeySigner::parse(&skey).expect("parse")
}

pub(crate) fn verifier(s: &KeySigner) -> KeyVerifier {
    KeyVerifier::parse(s.verifier_key()).expect("verifier")
}

/// An app whose log key the test knows, with five logged cases, all signed.
async fn logged_app(backend: Backend) -> (TestApp, KeySigner) {
    let key = signer(ORIGIN, false);
    let config = ServerConfig {
        log: LogConfig::new(key.clone()),
        ..ServerConfig::default()
    };
    let app = spawn_app_with(backend, config).await;
    for i in 0..5 {
        app.create_item(&format!("路灯 {i}")).await;
    }
    let size = app.wait_for_checkpoint().await;
    assert_eq!(size, 5);
    (app, key)
}

async fn report(db: &Db, key: &KeySigner) -> Result<gongzhi::audit::Summary, Finding> {
    match verify_log(db, &[verifier(key)]).await {
        Ok(s) => Ok(s),
        Err(VerifyError::Found(f)) => Err(f),
        Err(e) => panic!("verify failed to run: {e}"),
    }
}

async fn entry(db: &Db, seq: u64) -> LogEntry {
    db.log_entry_at(seq).await.expect("read").expect("entry").0
}

/// Lets the test rewrite history as an attacker with database access would:
/// SQLite's append-only triggers go first.
async fn unlock(app: &TestApp) {
    if app.backend() == Backend::Sqlite {
        app.exec("DROP TRIGGER log_entries_no_update; DROP TRIGGER log_entries_no_delete;")
            .await;
    }
}

async fn intact_log_verifies(backend: Backend) {
    let (mut app, key) = logged_app(backend).await;
    app.stop_server().await;
    let s = report(&app.db, &key).await.expect("intact log");
    assert_eq!(s.entries, 5);
    assert!(s.checkpoints >= 2, "the empty start and at least one more");
    assert_eq!(s.unsigned, 0);
    app.stop().await;
}
crate::db_test!(intact_log_verifies);

async fn changed_byte_in_any_field_is_reported(backend: Backend) {
    let (mut app, key) = logged_app(backend).await;
    app.stop_server().await;
    unlock(&app).await;
    let original = entry(&app.db, 2).await;
    let tampers = [
        ("id", "id = id || 'x'"),
        ("case_id", "case_id = case_id || 'x'"),
        ("at", "at = at + 1"),
        ("actor_id", "actor_id = actor_id || 'x'"),
        ("actor_unit_id", "actor_unit_id = actor_unit_id || 'x'"),
        ("action", "action = 'x' || action"),
        ("from_state", "from_state = 'x'"),
        ("to_state", "to_state = to_state || 'x'"),
        ("changes", "changes = replace(changes, '路灯', '路燈')"),
        ("reason", "reason = 'x'"),
    ];
    for (field, set) in tampers {
        app.exec(&format!("UPDATE log_entries SET {set} WHERE seq = 2"))
            .await;
        let now = entry(&app.db, 2).await;
        assert_ne!(now, original, "{field} was not changed");
        assert_eq!(
            report(&app.db, &key).await.unwrap_err().to_string(),
            format!(
                "entry {} (seq 2): content changed: its fields no longer hash to its leaf in the tree",
                now.id
            ),
            "{field}"
        );
        restore(&app, &original).await;
        report(&app.db, &key).await.expect("restored");
    }
    app.stop().await;
}
crate::db_test!(changed_byte_in_any_field_is_reported);

async fn restore(app: &TestApp, e: &LogEntry) {
    let sql = "UPDATE log_entries SET id = $1, case_id = $2, at = $3, actor_id = $4, actor_unit_id = $5, \
               action = $6, from_state = $7, to_state = $8, changes = $9, reason = $10 WHERE seq = 2";
    macro_rules! run {
        ($pool:expr) => {
            sqlx::query(sql)
                .bind(&e.id)
                .bind(&e.case_id)
                .bind(e.at)
                .bind(&e.actor_id)
                .bind(&e.actor_unit_id)
                .bind(&e.action)
                .bind(&e.from_state)
                .bind(&e.to_state)
                .bind(&e.changes)
                .bind(&e.reason)
                .execute($pool)
                .await
                .expect("restore")
        };
    }
    match &app.db {
        Db::Sqlite(pool) => {
            run!(pool);
        }
        Db::Postgres(pool) => {
            run!(pool);
        }
    }
}

/// An entry for bulk logs, with every kind of field value: absent and empty
/// optional fields, non-ASCII text, long changes.
fn bulk_entry(i: u64) -> LogEntry {
    LogEntry {
        seq: 0,
        id: format!("bulk-{i:08}"),
        case_id: format!("case-{}", i / 7),
        at: 1_767_225_600_000_000 + i as i64 * 1_000,
        actor_id: (!i.is_multiple_of(3)).then(|| format!("user-{}", i % 11)),
        actor_unit_id: i.is_multiple_of(5).then(String::new),
        action: "assign".into(),
        from_state: i.is_multiple_of(2).then(|| "registered".into()),
        to_state: "assigned".into(),
        changes: gongzhi_domain::log::canonical_json(&json!({
            "holder_unit_id": {"before": "u-D1", "after": format!("u-D{}", i % 13)},
            "note": {"before": null, "after": "路灯不亮 ".repeat((i % 9) as usize)},
        })),
        reason: (i % 4 != 1).then(|| "请尽快处理".repeat((i % 3) as usize)),
    }
}

/// A log of several bulk-read batches verifies through the bulk read path; a
/// change deep in a later batch hands over to the exact pass, which reports it.
async fn large_log_verifies_through_the_bulk_path(backend: Backend) {
    let (mut app, key) = logged_app(backend).await;
    app.stop_server().await;
    let base = app.db.log_size().await.expect("size");
    for start in (0..10_000).step_by(1_000) {
        app.db
            .append_log_batch((start..start + 1_000).map(bulk_entry).collect())
            .await
            .expect("append");
        if (start + 1_000) % 3_000 == 0 || start + 1_000 == 10_000 {
            while app.db.integrate(5_000).await.expect("integrate").is_some() {}
            let tree = app.db.tree_state().await.expect("tree");
            let head = TreeHead {
                origin: ORIGIN.into(),
                size: tree.size,
                root: tree.root,
            };
            let note = sign_checkpoint(&head, &[&key]).expect("sign");
            app.db
                .insert_checkpoint(tree.size, &tree.root, &note)
                .await
                .expect("checkpoint");
        }
    }
    let s = report(&app.db, &key).await.expect("intact log");
    assert_eq!(s.entries, base + 10_000);
    assert_eq!(s.unsigned, 0);
    assert_eq!(s.read_path, ReadPath::Bulk);

    unlock(&app).await;
    let seq = base + 9_000;
    let victim = entry(&app.db, seq).await;
    app.exec(&format!(
        "UPDATE log_entries SET case_id = 'case-x' WHERE seq = {seq}"
    ))
    .await;
    assert_eq!(
        report(&app.db, &key).await.unwrap_err(),
        Finding::Changed { id: victim.id, seq }
    );
    app.stop().await;
}
crate::db_test!(large_log_verifies_through_the_bulk_path);

async fn deleted_entry_is_reported(backend: Backend) {
    let (mut app, key) = logged_app(backend).await;
    app.stop_server().await;
    unlock(&app).await;
    let next = entry(&app.db, 3).await;
    app.exec("DELETE FROM log_entries WHERE seq = 2").await;
    assert_eq!(
        report(&app.db, &key).await.unwrap_err().to_string(),
        format!(
            "entry at seq 2: missing (deleted); the next entry is {} at seq 3",
            next.id
        )
    );
    // Deleting the newest entry instead shows against the checkpoint.
    app.exec("DELETE FROM log_entries WHERE seq >= 2").await;
    let err = report(&app.db, &key).await.unwrap_err();
    assert!(
        matches!(
            err,
            Finding::MissingTail {
                from: 2,
                size: 5,
                ..
            }
        ),
        "{err}"
    );
    app.stop().await;
}
crate::db_test!(deleted_entry_is_reported);

async fn swapped_entries_are_reported(backend: Backend) {
    let (mut app, key) = logged_app(backend).await;
    app.stop_server().await;
    unlock(&app).await;
    let (two, three) = (entry(&app.db, 2).await, entry(&app.db, 3).await);
    app.exec(
        "UPDATE log_entries SET seq = 100 WHERE seq = 2; \
         UPDATE log_entries SET seq = 2 WHERE seq = 3; \
         UPDATE log_entries SET seq = 3 WHERE seq = 100;",
    )
    .await;
    assert_eq!(
        report(&app.db, &key).await.unwrap_err().to_string(),
        format!(
            "entry {} (seq 2): swapped with entry {} (seq 3)",
            three.id, two.id
        )
    );
    app.stop().await;
}
crate::db_test!(swapped_entries_are_reported);

async fn inserted_entry_is_reported(backend: Backend) {
    let (mut app, key) = logged_app(backend).await;
    app.stop_server().await;
    unlock(&app).await;
    // Make room at seq 2 and slip in a well-formed entry with a correct leaf hash.
    app.exec(
        "UPDATE log_entries SET seq = seq + 1000 WHERE seq >= 2; \
         UPDATE log_entries SET seq = seq - 999 WHERE seq >= 1000; \
         UPDATE log_head SET next_seq = next_seq + 1;",
    )
    .await;
    let mut forged = entry(&app.db, 3).await;
    forged.seq = 2;
    forged.id = "00000000-0000-7000-8000-00000000f0f0".into();
    forged.reason = Some("补录".into());
    let sql = format!(
        "INSERT INTO log_entries (seq, id, case_id, at, actor_id, actor_unit_id, action, from_state, to_state, changes, reason, leaf_hash) \
         VALUES (2, '{}', '{}', {}, NULL, NULL, '{}', NULL, '{}', '{}', '补录', '{}')",
        forged.id,
        forged.case_id,
        forged.at,
        forged.action,
        forged.to_state,
        forged.changes.replace('\'', "''"),
        {
            let mut e = forged.clone();
            e.actor_id = None;
            e.actor_unit_id = None;
            e.from_state = None;
            e.leaf_hash_hex()
        }
    );
    app.exec(&sql).await;
    assert_eq!(
        report(&app.db, &key).await.unwrap_err().to_string(),
        format!(
            "entry {} (seq 2): inserted: it is not in the tree, and the entry the tree has at seq 2 is now at seq 3",
            forged.id
        )
    );
    app.stop().await;
}
crate::db_test!(inserted_entry_is_reported);

async fn checkpoint_signed_by_another_key_is_reported(backend: Backend) {
    let (mut app, key) = logged_app(backend).await;
    app.stop_server().await;
    let intruder = signer(ORIGIN, false);
    let tree = app.db.tree_state().await.expect("tree");
    let head = TreeHead {
        origin: ORIGIN.into(),
        size: tree.size,
        root: tree.root,
    };
    let note = sign_checkpoint(&head, &[&intruder]).expect("sign");
    let cp = app
        .db
        .insert_checkpoint(tree.size, &tree.root, &note)
        .await
        .expect("insert");
    assert_eq!(
        report(&app.db, &key).await.unwrap_err().to_string(),
        format!(
            "checkpoint {} (size 5): signed by key {}, not by a key of this log",
            cp.id,
            intruder.label()
        )
    );
    app.stop().await;
}
crate::db_test!(checkpoint_signed_by_another_key_is_reported);

async fn bundle_verifies_offline_and_breaks_on_any_byte(backend: Backend) {
    let key = signer(ORIGIN, false);
    let config = ServerConfig {
        log: LogConfig::new(key.clone()),
        ..ServerConfig::default()
    };
    let app = spawn_app_with(backend, config).await;
    let case_id = app.create_item("井盖丢失").await;
    let other = app.create_item("别的案件").await;
    let r = app
        .act(
            &case_id,
            "d1.dispatcher",
            json!({"action": "assign", "target_unit": app.unit("D1-CG"), "reason": "辖区城管"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.wait_for_checkpoint().await;
    let res = app
        .client
        .get(app.url(&format!("/api/v1/cases/{case_id}/bundle")))
        .bearer_auth(&app.keys["d1.operator"])
        .send()
        .await
        .expect("bundle");
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.bytes().await.expect("body").to_vec();
    let public = verifier(&key);
    let summary = Bundle::verify_text(&text, &public).expect("bundle verifies");
    assert_eq!(
        (summary.case_id.as_str(), summary.entries),
        (case_id.as_str(), 2)
    );
    // Another instance's key does not vouch for it.
    assert!(Bundle::verify_text(&text, &verifier(&signer(ORIGIN, false))).is_err());
    // Any byte changed, anywhere, and it fails.
    for i in 0..text.len() {
        for bit in [0x01u8, 0x20, 0x80] {
            let mut bad = text.clone();
            bad[i] ^= bit;
            assert!(
                Bundle::verify_text(&bad, &public).is_err(),
                "byte {i} ^ {bit:#x} still verifies: {:?}",
                String::from_utf8_lossy(&bad)
            );
        }
    }
    // The command line, offline, with the file and the key only.
    let dir = TempDir::new();
    let file = dir.path.join("bundle.json");
    std::fs::write(&file, &text).expect("write");
    let run = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gongzhi"))
            .arg("verify-bundle")
            .arg(path)
            .arg("--key")
            .arg(key.verifier_key())
            .env("GONGZHI_LOG", "warn")
            .output()
            .expect("run")
    };
    let ok = run(&file);
    assert!(ok.status.success(), "{ok:?}");
    assert!(
        String::from_utf8_lossy(&ok.stdout).starts_with(&format!("ok: case {case_id}: 2 entries"))
    );
    let mut bad = text.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x01;
    std::fs::write(&file, &bad).expect("write");
    let failed = run(&file);
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stdout).starts_with("FAILED:"));
    // A case outside the caller's scope has no bundle for them.
    let r = app
        .get(&format!("/api/v1/cases/{other}/bundle"), "d2.operator")
        .await;
    assert_eq!(r.code(), "case_not_found");
    app.stop().await;
}
crate::db_test!(bundle_verifies_offline_and_breaks_on_any_byte);

/// Two instances on loopback witness each other, with a quorum of one.
async fn two_instances_witness_each_other(backend: Backend) {
    let (ka, kb) = (
        signer("a.gongzhi/log", false),
        signer("b.gongzhi/log", false),
    );
    let (wa, wb) = (
        signer("a.gongzhi/witness", true),
        signer("b.gongzhi/witness", true),
    );
    let config = |log: &KeySigner, witness: &KeySigner| {
        let mut cfg = LogConfig::new(log.clone());
        cfg.witnesses = vec![verifier(witness)];
        cfg.quorum = 1;
        ServerConfig {
            log: cfg,
            ..ServerConfig::default()
        }
    };
    let a = spawn_app_with(backend, config(&ka, &wb)).await;
    let b = spawn_app_with(backend, config(&kb, &wa)).await;
    let client = reqwest::Client::new();
    a.create_item("甲的案件").await;
    b.create_item("乙的案件").await;
    a.wait_for_checkpoint().await;
    b.wait_for_checkpoint().await;
    let base = |app: &TestApp| format!("http://{}", app.addr);

    // Not witnessed yet.
    let r = a
        .call(
            reqwest::Method::GET,
            "/api/v1/log/checkpoint?witnessed=true",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);

    // B witnesses A, A witnesses B: first sight, trusted on first use.
    let seen = gongzhi::witness::witness_once(&client, &b.db, &base(&a), &verifier(&ka), &wb)
        .await
        .expect("b witnesses a");
    assert_eq!((seen.previous, seen.size), (None, 1));
    gongzhi::witness::witness_once(&client, &a.db, &base(&b), &verifier(&kb), &wa)
        .await
        .expect("a witnesses b");

    for (app, witness) in [(&a, &wb), (&b, &wa)] {
        let r = app
            .call(
                reqwest::Method::GET,
                "/api/v1/log/checkpoint?witnessed=true",
                None,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["witnessed"], true);
        assert_eq!(r.body["cosignatures"][0]["witness"], witness.label());
        // The served note carries both signatures and verifies under both keys.
        let note = r.body["note"].as_str().expect("note");
        let keys = [
            verifier(if std::ptr::eq(app, &a) { &ka } else { &kb }),
            verifier(witness),
        ];
        let opened = gongzhi_domain::checkpoint::open_checkpoint(note, &keys).expect("note");
        assert_eq!(opened.verified.len(), 2, "{opened:?}");
    }

    // A grows; B checks consistency from what it saw before, then cosigns.
    a.create_item("甲的第二件").await;
    a.create_item("甲的第三件").await;
    a.wait_for_checkpoint().await;
    let seen = gongzhi::witness::witness_once(&client, &b.db, &base(&a), &verifier(&ka), &wb)
        .await
        .expect("b witnesses a again");
    assert_eq!((seen.previous, seen.size), (Some(1), 3));
    let r = a
        .call(
            reqwest::Method::GET,
            "/api/v1/log/checkpoint?witnessed=true",
            None,
            None,
        )
        .await;
    assert_eq!(r.body["tree_size"], 3);

    // A witness refuses a log under the wrong key, and a log refuses a
    // cosignature from a witness it does not know.
    let err = gongzhi::witness::witness_once(&client, &b.db, &base(&a), &verifier(&kb), &wb)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("checkpoint refused"), "{err}");
    let stranger = signer("c.gongzhi/witness", true);
    let err = gongzhi::witness::witness_once(&client, &b.db, &base(&a), &verifier(&ka), &stranger)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");

    a.stop().await;
    b.stop().await;
}
crate::db_test!(two_instances_witness_each_other);

/// Rotating the key: the hand-over checkpoint carries both signatures, and the
/// log verifies with the new key and the retired one, but not with the new alone.
async fn key_rotation(backend: Backend) {
    // The key is created on first use in the data folder, owner-only.
    let dir = TempDir::new();
    let first =
        gongzhi::keys::load_or_create(&dir.path.join("log.key"), ORIGIN, false).expect("key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path.join("log.key"))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let config = ServerConfig {
        log: LogConfig::new(first.clone()),
        ..ServerConfig::default()
    };
    let mut app = spawn_app_with(backend, config).await;
    app.create_item("轮换前").await;
    app.wait_for_checkpoint().await;
    app.stop_server().await;
    let settings = gongzhi::Settings {
        data_dir: dir.path.clone(),
        database_url: Some(app.database_url().to_string()),
        pack_dirs: Vec::new(),
        time_zone: "Asia/Shanghai".into(),
        office_hours: "09:00-12:00,13:30-18:00".into(),
        log_origin: ORIGIN.into(),
        sqlite_synchronous: Default::default(),
    };
    assert_eq!(
        gongzhi::keys::log_key(&settings).expect("again").label(),
        first.label()
    );
    let (old, new) = gongzhi::keys::rotate_log_key(&settings, &app.db)
        .await
        .expect("rotate");
    assert_eq!(old.label(), first.label());
    assert_ne!(new.label(), old.label());
    let trusted = gongzhi::keys::trusted_log_keys(&settings).expect("keys");
    assert_eq!(
        trusted.iter().map(KeyVerifier::label).collect::<Vec<_>>(),
        vec![new.label(), old.label()]
    );
    let hand_over = app.db.latest_checkpoint().await.expect("cp").expect("cp");
    let opened =
        gongzhi_domain::checkpoint::open_checkpoint(&hand_over.note, &trusted).expect("open");
    assert_eq!(opened.verified, vec![old.label(), new.label()]);
    // The whole history verifies with the new key and the retired one.
    match verify_log(&app.db, &trusted).await {
        Ok(s) => assert_eq!(s.entries, 1),
        Err(e) => panic!("{e}"),
    }
    // Without the retired key, the old checkpoints are foreign.
    let err = report(&app.db, &new).await.unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("signed by key {}", old.label())),
        "{err}"
    );
    // Origin and key name must agree.
    let mut other = settings.clone();
    other.log_origin = "elsewhere/log".into();
    assert!(gongzhi::keys::log_key(&other).is_err());
    app.stop().await;
}
crate::db_test!(key_rotation);

/// PostgreSQL two-role setup: with a `gongzhi_app` role present, the migration
/// leaves it everything the server does (start-up, appends, integration,
/// checkpoints) but no UPDATE, DELETE or TRUNCATE on the log tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_app_role_cannot_rewrite_the_log() {
    let Some(base) = crate::harness::postgres_url() else {
        eprintln!("GONGZHI_TEST_POSTGRES not set: PostgreSQL role test not run");
        return;
    };
    if let Db::Postgres(pool) = Db::connect(&base).await.expect("connect") {
        // Roles are cluster-wide; another test run may have made it already.
        sqlx::raw_sql(
            "DO $$ BEGIN CREATE ROLE gongzhi_app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;",
        )
        .execute(&pool)
        .await
        .expect("role");
        pool.close().await;
    }
    let (owner, url, _) = crate::harness::fresh_db(Backend::Postgres).await;
    let (scheme, rest) = url.split_once("://").expect("url");
    let host = rest.split_once('@').map(|(_, h)| h).unwrap_or(rest);
    let app_url = format!("{scheme}://gongzhi_app@{host}");
    let app = Db::connect(&app_url).await.expect("connect as gongzhi_app");
    assert_eq!(
        app.migrate().await.expect("start-up check"),
        Vec::<i64>::new()
    );
    let entry = LogEntry {
        seq: 0,
        id: "role-test-1".into(),
        case_id: "c".into(),
        at: 1,
        actor_id: None,
        actor_unit_id: None,
        action: "create".into(),
        from_state: None,
        to_state: "registered".into(),
        changes: "{}".into(),
        reason: None,
    };
    app.append_log_batch(vec![entry]).await.expect("append");
    let state = app.integrate(100).await.expect("integrate").expect("grew");
    app.insert_checkpoint(state.size, &state.root, "note\n")
        .await
        .expect("checkpoint");
    let Db::Postgres(pool) = &app else {
        unreachable!()
    };
    for sql in [
        "UPDATE log_entries SET reason = 'x'",
        "DELETE FROM log_entries",
        "TRUNCATE log_entries",
        "UPDATE log_tree_hashes SET hash = 'x'",
        "DELETE FROM log_tree_hashes",
        "DELETE FROM log_checkpoints",
        "UPDATE log_cosignatures SET line = 'x'",
    ] {
        let err = sqlx::query(sql).execute(pool).await.unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: {err}"
        );
    }
    app.close().await;
    owner.close().await;
    if let Ok(Db::Postgres(pool)) = Db::connect(&base).await {
        let name = url.rsplit('/').next().unwrap_or("").to_string();
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&pool)
            .await;
        pool.close().await;
    }
}

/// What people see is the case row: an edit of it outside the engine, a case
/// row with no history, or a log wiped while the cases remain, each fails
/// `verify` with a message naming what is wrong.
async fn case_rows_must_match_their_log(backend: Backend) {
    let (mut app, key) = logged_app(backend).await;
    app.stop_server().await;
    report(&app.db, &key).await.expect("intact");
    let victim = entry(&app.db, 2).await.case_id;

    // A row edit: the case is made to look closed.
    app.exec(&format!(
        "UPDATE cases SET state = 'closed' WHERE id = '{victim}'"
    ))
    .await;
    let err = report(&app.db, &key).await.unwrap_err();
    assert_eq!(
        err,
        Finding::CaseDiffers {
            case_id: victim.clone(),
            what: "state".into(),
            row: "closed".into(),
            log: entry(&app.db, 2).await.to_state,
        }
    );
    assert!(
        err.to_string().contains("changed outside the engine"),
        "{err}"
    );
    app.exec(&format!(
        "UPDATE cases SET state = '{}' WHERE id = '{victim}'",
        entry(&app.db, 2).await.to_state
    ))
    .await;
    report(&app.db, &key).await.expect("restored");

    // The holder and a field, edited the same way.
    app.exec(&format!(
        "UPDATE cases SET holder_unit_id = '{}' WHERE id = '{victim}'",
        app.unit("D2")
    ))
    .await;
    let err = report(&app.db, &key).await.unwrap_err();
    assert!(
        matches!(&err, Finding::CaseDiffers { what, .. } if what == "holder"),
        "{err}"
    );
    app.exec(&format!(
        "UPDATE cases SET holder_unit_id = '{}' WHERE id = '{victim}'",
        app.unit("D1")
    ))
    .await;
    report(&app.db, &key).await.expect("restored");
    let fields: String = db_text(
        &app.db,
        &format!("SELECT fields FROM cases WHERE id = '{victim}'"),
    )
    .await;
    let edited = fields.replacen("路灯", "井盖", 1);
    assert_ne!(edited, fields);
    app.exec(&format!(
        "UPDATE cases SET fields = '{edited}' WHERE id = '{victim}'"
    ))
    .await;
    let err = report(&app.db, &key).await.unwrap_err();
    assert!(
        matches!(&err, Finding::CaseDiffers { what, .. } if what == "field \"title\""),
        "{err}"
    );
    app.exec(&format!(
        "UPDATE cases SET fields = '{fields}' WHERE id = '{victim}'"
    ))
    .await;
    report(&app.db, &key).await.expect("restored");

    // A case row with no history: a copy of the victim under a new id.
    let forged = "00000000-0000-7000-8000-00000000f0f0";
    app.exec(&format!(
        "INSERT INTO cases (id, receipt_code, pack_id, pack_version, case_type, state, fields, holder_unit_id, \
         area_unit_id, lng, lat, overdue_since, personal_salt, version, created_at, updated_at, closed_at) \
         SELECT '{forged}', 'FORGED-1', pack_id, pack_version, case_type, state, fields, holder_unit_id, \
         area_unit_id, lng, lat, overdue_since, personal_salt, version, created_at, updated_at, closed_at \
         FROM cases WHERE id = '{victim}'"
    ))
    .await;
    let err = report(&app.db, &key).await.unwrap_err();
    assert_eq!(
        err,
        Finding::NoCreationEntry {
            case_id: forged.into()
        }
    );

    // The whole log wiped, tree and checkpoints with it, the cases kept.
    unlock(&app).await;
    if app.backend() == Backend::Sqlite {
        app.exec(
            "DROP TRIGGER log_tree_hashes_no_update; DROP TRIGGER log_tree_hashes_no_delete; \
             DROP TRIGGER log_checkpoints_no_update; DROP TRIGGER log_checkpoints_no_delete;",
        )
        .await;
    }
    app.exec(
        "DELETE FROM log_cosignatures; DELETE FROM log_checkpoints; DELETE FROM log_tree_hashes; \
         DELETE FROM log_entries; UPDATE log_head SET next_seq = 0; \
         UPDATE log_tree SET size = 0, root_hash = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'",
    )
    .await;
    let err = report(&app.db, &key).await.unwrap_err();
    assert_eq!(err, Finding::LogWiped { cases: 6 }, "{err}");
    app.stop().await;
}
crate::db_test!(case_rows_must_match_their_log);

/// A damaged database file fails `verify` before anything is read from it.
#[tokio::test]
async fn a_damaged_database_file_is_reported() {
    let (db, url, dir) = crate::harness::fresh_db(Backend::Sqlite).await;
    assert_eq!(
        db.integrity_check().await.expect("check"),
        gongzhi_store::Integrity::Sound("SQLite quick_check")
    );
    // Where a table's b-tree starts: its page is about to be damaged.
    let page_size: i64 = db_scalar(&db, "PRAGMA page_size").await;
    let root: i64 = db_scalar(
        &db,
        "SELECT rootpage FROM sqlite_master WHERE name = 'log_tree'",
    )
    .await;
    // Everything into the main file, then scribble over the page's header.
    let busy: i64 = db_scalar(&db, "PRAGMA wal_checkpoint(TRUNCATE)").await;
    assert_eq!(busy, 0, "the checkpoint ran");
    db.close().await;
    let file = dir.as_ref().expect("dir").path.join("test.db");
    let mut bytes = std::fs::read(&file).expect("read");
    let at = usize::try_from((root - 1) * page_size).expect("offset");
    for b in bytes[at..at + 12].iter_mut() {
        *b ^= 0x5a;
    }
    std::fs::write(&file, &bytes).expect("write");
    let db = Db::connect(&url).await.expect("open damaged");
    let key = signer(ORIGIN, false);
    match verify_log(&db, &[verifier(&key)]).await {
        Err(VerifyError::Found(Finding::Damaged { detail })) => assert!(!detail.is_empty()),
        other => panic!("expected damage, got {other:?}"),
    }
    db.close().await;
}

async fn db_scalar(db: &Db, sql: &str) -> i64 {
    match db {
        Db::Sqlite(pool) => sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await
            .expect("scalar"),
        Db::Postgres(pool) => sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await
            .expect("scalar"),
    }
}

async fn db_text(db: &Db, sql: &str) -> String {
    match db {
        Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.expect("text"),
        Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.expect("text"),
    }
}
