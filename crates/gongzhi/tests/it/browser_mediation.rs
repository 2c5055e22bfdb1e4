//! Mediation in the browser: the committee's clerk registers a dispute on
//! the form its pack declares, takes it on and names the mediator from the
//! candidates; the mediator finds it in their own queue, records that the
//! parties did not agree and refers them to court.

use gongzhi_domain::role::Role;

use crate::browser::{
    PASSWORD, add_user, body, browser_available, choose, click, fill, login, logout, shot,
    start_browser,
};
use crate::harness::{Backend, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_is_registered_assigned_and_referred_in_the_pages() {
    if !browser_available() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await;
    let hash = gongzhi_web::auth::hash_password(PASSWORD.into())
        .await
        .expect("hash");
    add_user(
        &app,
        "web.clerk",
        Role::intern("mediation_clerk"),
        "D1",
        &hash,
    )
    .await;
    add_user(&app, "web.mediator", Role::intern("mediator"), "D1", &hash).await;
    let mediator_id = app
        .db
        .user_by_username("web.mediator")
        .await
        .expect("user")
        .expect("exists")
        .id;
    let (_driver, c) = start_browser().await;

    // The clerk registers the dispute from the nav.
    login(&c, &app, "web.clerk", PASSWORD).await;
    click(&c, "#nav-register").await;
    fill(&c, "#new-title", "装修噪音邻里纠纷").await;
    choose(&c, "#new-dispute_kind", "neighbours").await;
    choose(&c, "#new-source", "walk_in").await;
    fill(&c, "#new-claim", "要求晚间停止施工并赔偿损失").await;
    shot(&c, "mediation-01-register").await;
    click(&c, "#register-submit").await;
    let page = body(&c).await;
    assert!(
        page.contains("装修噪音邻里纠纷") && page.contains("已登记"),
        "{page}"
    );

    // Taken on, then the mediator named from the candidates.
    click(&c, "#do-accept").await;
    choose(&c, "#assign_mediator-mediator", &mediator_id).await;
    click(&c, "#do-assign_mediator").await;
    let page = body(&c).await;
    assert!(
        page.contains("调解中") && page.contains("web.mediator"),
        "{page}"
    );
    logout(&c).await;

    // The mediator finds it among their own cases and closes the attempt.
    login(&c, &app, "web.mediator", PASSWORD).await;
    c.goto(&app.url("/work?queue=mine")).await.expect("work");
    let page = body(&c).await;
    assert!(page.contains("装修噪音邻里纠纷"), "{page}");
    click(&c, "table a[href^='/cases/']").await;
    fill(
        &c,
        "#record_no_agreement-no_agreement_reason",
        "被申请人拒绝调解，双方分歧较大",
    )
    .await;
    click(&c, "#do-record_no_agreement").await;
    choose(&c, "#refer-referred_to", "court").await;
    click(&c, "#do-refer").await;
    let page = body(&c).await;
    assert!(page.contains("已引导诉讼仲裁"), "{page}");
    shot(&c, "mediation-02-referred").await;
}
