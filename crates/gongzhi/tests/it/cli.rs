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
