//! The admin pages in a real headless browser: an administrator creates a
//! unit, imports grids from a GeoJSON file and watches the job's progress
//! reach the end, creates a user who then logs in. Screenshots 20–22.

use std::time::Duration;

use fantoccini::{Client, Locator};

use gongzhi_domain::role::Role;

use crate::browser::{
    PASSWORD, add_user, browser_available, choose, click, fill, login, logout, shot, start_browser,
    text_of,
};
use crate::harness::{Backend, spawn_app, square, tempdir::TempDir};

/// Waits for an element that a later page (after the script's reload) shows.
async fn wait_for(c: &Client, css: &str) {
    for _ in 0..200 {
        if c.find(Locator::Css(css)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css} did not appear within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_units_grids_and_users() {
    if !browser_available() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await;
    let hash = gongzhi_web::auth::hash_password(PASSWORD.into())
        .await
        .expect("hash");
    add_user(&app, "web.admin", Role::ADMIN, "C", &hash).await;
    add_user(&app, "web.clerk", Role::intern("operator"), "D1", &hash).await;
    let (_driver, c) = start_browser().await;

    // Staff without an admin role see no link and are refused.
    login(&c, &app, "web.clerk", PASSWORD).await;
    assert!(c.find(Locator::Css("#nav-admin")).await.is_err());
    c.goto(&app.url("/admin/units")).await.expect("admin");
    assert_eq!(text_of(&c, "h1").await, "页面不存在");
    logout(&c).await;

    // The admin opens the unit tree from the navigation and adds a grid.
    login(&c, &app, "web.admin", PASSWORD).await;
    click(&c, "#nav-admin").await;
    assert_eq!(text_of(&c, "h1").await, "系统管理");
    assert!(text_of(&c, "#unit-G1a").await.contains("一网格南"));
    choose(&c, "#unit-parent", &app.unit("M1")).await;
    choose(&c, "#unit-kind", "grid").await;
    fill(&c, "#unit-code", "G1c").await;
    fill(&c, "#unit-name", "一网格东").await;
    click(&c, "#unit-create-submit").await;
    assert!(text_of(&c, "#admin-notice").await.contains("单位已新建"));
    assert!(text_of(&c, "#unit-G1c").await.contains("一网格东"));
    shot(&c, "20-admin-units").await;
    // Readable on a phone: one column, nothing wider than the screen.
    c.set_window_size(360, 800).await.expect("narrow");
    let wide: bool = c
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth + 1;",
            vec![],
        )
        .await
        .expect("width")
        .as_bool()
        .unwrap_or(true);
    assert!(!wide, "the units page scrolls sideways at 360 px");
    shot(&c, "24-admin-units-360").await;
    c.set_window_size(1280, 1000).await.expect("wide");

    // A small GeoJSON file, imported in the background with a progress bar.
    let dir = TempDir::new();
    let file = dir.path.join("grids.geojson");
    let features = serde_json::json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "新网格一", "code": "N1", "parent": "M1"},
         "geometry": square(113.0, 28.0, 113.05, 28.05)},
        {"type": "Feature", "properties": {"name": "新网格二", "code": "N2", "parent": "M2"},
         "geometry": square(113.3, 28.0, 113.35, 28.05)},
    ]});
    std::fs::write(&file, features.to_string()).expect("write file");
    c.find(Locator::Css("#import-file"))
        .await
        .expect("file input")
        .send_keys(&file.display().to_string())
        .await
        .expect("choose file");
    click(&c, "#grid-import-submit").await;
    assert!(c.find(Locator::Css("progress#job-progress")).await.is_ok());
    wait_for(&c, "#job-result").await;
    assert_eq!(text_of(&c, "#job-count").await, "2");
    let value = c
        .find(Locator::Css("#job-progress"))
        .await
        .expect("progress")
        .attr("value")
        .await
        .expect("value");
    assert_eq!(value.as_deref(), Some("100"));
    shot(&c, "22-admin-import").await;
    assert!(app.db.unit_by_code("N2").await.expect("u").is_some());
    click(&c, "#job-back").await;
    assert!(text_of(&c, "#unit-N1").await.contains("新网格一"));

    // A new user with a role in a department; they can log in.
    click(&c, "#admin-nav-users").await;
    fill(&c, "#user-username", "web.newbie").await;
    fill(&c, "#user-display", "新来的承办人").await;
    fill(&c, "#user-password", "newbie-pass-1").await;
    choose(&c, "#user-role", "handler").await;
    choose(&c, "#user-unit", &app.unit("D1-CG")).await;
    click(&c, "#user-create-submit").await;
    assert!(text_of(&c, "#admin-notice").await.contains("用户已新建"));
    assert!(text_of(&c, "#user-web\\.newbie").await.contains("承办人"));
    shot(&c, "21-admin-users").await;
    // The user's page, in English: roles with their forms.
    click(&c, "#user-web\\.newbie a").await;
    click(&c, "#switch-lang").await;
    assert_eq!(text_of(&c, "#grants-title").await, "Roles");
    assert!(text_of(&c, "#user-grants").await.contains("Handler"));
    click(&c, "#admin-nav-taxonomy").await;
    assert!(text_of(&c, "#rules-title").await.contains("Routing rules"));
    shot(&c, "23-admin-taxonomy-en").await;
    click(&c, "#switch-lang").await;
    logout(&c).await;
    login(&c, &app, "web.newbie", "newbie-pass-1").await;
    assert!(text_of(&c, ".who").await.contains("新来的承办人"));
}
