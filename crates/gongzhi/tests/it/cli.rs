//! The command line: check-pack, import grids, user management.

use std::process::Command;

use crate::harness::tempdir::TempDir;

fn gongzhi(data: &TempDir) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gongzhi"));
    cmd.arg("--data")
        .arg(&data.path)
        .env_remove("GONGZHI_DATABASE")
        .env("GONGZHI_LOG", "warn");
    cmd
}

#[test]
fn check_pack_reports_every_problem_with_its_line() {
    let dir = TempDir::new();
    let pack = r#"id = "city_x"
version = "1"
name = { zh = "测试包" }

[types.t]
name = "类型"

[types.t.fields.title]
kind = "text"

[types.t.states.open]
name = "开"
deadline = { amount = 0, unit = "working_days" }

[types.t.actions.create]
name = "登记"
from = []
to = "opened"
roles = ["operator", "janitor"]
requires = ["title"]
"#;
    std::fs::write(dir.path.join("pack.toml"), pack).expect("write");
    let out = gongzhi(&dir)
        .arg("check-pack")
        .arg(&dir.path)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // amount 0 (line 13), unknown state "opened" (line 18), unknown role (line 19).
    for line in [":13:", ":18:", ":19:"] {
        assert!(
            stderr.contains(&format!("pack.toml{line}")),
            "{line} missing in:\n{stderr}"
        );
    }
    assert!(stderr.contains("problem(s)"), "{stderr}");

    let good = TempDir::new();
    std::fs::write(
        good.path.join("pack.toml"),
        include_str!("../../../../packs/generic/pack.toml"),
    )
    .expect("write");
    let out = gongzhi(&good)
        .arg("check-pack")
        .arg(&good.path)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("generic/item"));
}

#[test]
fn users_and_grids_from_the_command_line() {
    let data = TempDir::new();
    let out = gongzhi(&data).arg("migrate").output().expect("migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A role at a unit that does not exist is refused before anything is written.
    let out = gongzhi(&data)
        .args(["user", "add", "chen", "--role", "admin@NOPE"])
        .env("GONGZHI_PASSWORD", "long enough password")
        .output()
        .expect("user add");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOPE"));
    let out = gongzhi(&data)
        .args(["user", "add", "chen", "--name", "陈"])
        .env("GONGZHI_PASSWORD", "long enough password")
        .output()
        .expect("user add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = gongzhi(&data)
        .args(["user", "list"])
        .output()
        .expect("list");
    assert!(String::from_utf8_lossy(&out.stdout).contains("chen"));
    let out = gongzhi(&data)
        .args(["user", "passwd", "chen"])
        .env("GONGZHI_PASSWORD", "short")
        .output()
        .expect("passwd");
    assert!(!out.status.success(), "short passwords are refused");
    let out = gongzhi(&data)
        .args(["user", "passwd", "chen"])
        .env("GONGZHI_PASSWORD", "another long password")
        .output()
        .expect("passwd");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Accounts made and passwords set from the command line are in the log,
    // as the system's changes, without the password.
    let admin_entries = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let url = format!("sqlite://{}", data.path.join("gongzhi.db").display());
            let db = gongzhi_store::Db::connect(&url).await.expect("connect");
            let entries = db.log_entries(0, 1000).await.expect("log");
            db.close().await;
            entries
                .into_iter()
                .map(|(e, _)| e)
                .filter(|e| e.action.starts_with("admin."))
                .map(|e| (e.action, e.actor_id, e.changes))
                .collect::<Vec<_>>()
        });
    let actions: Vec<&str> = admin_entries.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(actions, ["admin.user.create", "admin.user.password_reset"]);
    assert!(admin_entries.iter().all(|(_, by, changes)| by.is_none()
        && !changes.contains("argon2")
        && !changes.contains("password")));

    // Grids need their parent community: without one, nothing is imported.
    let file = data.path.join("grids.geojson");
    std::fs::write(
        &file,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"一网格","code":"G1"},
            "geometry":{"type":"Polygon","coordinates":[[[113,28],[113.1,28],[113.1,28.1],[113,28.1],[113,28]]]}}]}"#,
    )
    .expect("write");
    let out = gongzhi(&data)
        .args(["import", "grids"])
        .arg(&file)
        .args(["--parent", "M-NONE"])
        .output()
        .expect("import");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("feature 0") && stderr.contains("M-NONE"),
        "{stderr}"
    );
}

/// CSV import of the real 12345 messages: all rows land, with their times and
/// categories; a second run adds nothing; bad rows are reported, good ones land.
async fn csv_import_is_idempotent(backend: crate::harness::Backend) {
    let app = crate::harness::spawn_app(backend).await;
    // The repository's copy of the 298 real messages (without their user
    // ids; see crates/domain/data/demo/README.md): tests read only the repository.
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../domain/data/demo/messages.csv");
    let summary = gongzhi::import_requests::import_requests(&app.state, &file, false)
        .await
        .expect("import");
    assert_eq!(summary.rejected, Vec::<(usize, String)>::new());
    assert_eq!(summary.imported, 298);
    let again = gongzhi::import_requests::import_requests(&app.state, &file, false)
        .await
        .expect("import");
    assert_eq!((again.imported, again.already_present), (0, 298));
    assert_eq!(app.db.case_count().await.expect("count"), 298);
    // An export with its user ids (留言用户): they are never stored.
    let dir = TempDir::new();
    let with_ids = dir.path.join("with-ids.csv");
    std::fs::write(
        &with_ids,
        "留言编号,留言用户,留言主题,留言时间,留言详情,一级分类\n\
         9001,A00043564,楼道灯坏了,2020/1/9 10:00:00,三单元楼道灯不亮,城乡建设\n",
    )
    .expect("write");
    let summary = gongzhi::import_requests::import_requests(&app.state, &with_ids, false)
        .await
        .expect("import");
    assert_eq!(summary.imported, 1, "{:?}", summary.rejected);
    let ids: Vec<String> = app
        .db
        .log_entries(0, 10_000)
        .await
        .expect("log")
        .into_iter()
        .map(|(e, _)| e.changes)
        .collect();
    assert!(ids.iter().all(|c| !c.contains("A00043564")));
    let stored = app.get("/api/v1/cases?limit=500", "city.dispatcher").await;
    assert!(!stored.body.to_string().contains("A00043564"));

    let bad = dir.path.join("bad.csv");
    std::fs::write(
        &bad,
        "留言编号,留言主题,留言时间,留言详情,一级分类\n\
         1,路灯不亮,2020/1/7 21:31:53,晚上很黑,城乡建设\n\
         2,,2020/1/7 21:31:53,没有主题,城乡建设\n\
         3,时间不对,昨天,内容,城乡建设\n\
         4,类别不对,2020/1/8 08:00:00,内容,不存在的类别\n",
    )
    .expect("write");
    let summary = gongzhi::import_requests::import_requests(&app.state, &bad, false)
        .await
        .expect("import");
    assert_eq!(summary.imported, 1);
    let rows: Vec<usize> = summary.rejected.iter().map(|(r, _)| *r).collect();
    assert_eq!(rows, vec![3, 4, 5], "{:?}", summary.rejected);
    app.stop().await;
}
crate::db_test!(csv_import_is_idempotent);
