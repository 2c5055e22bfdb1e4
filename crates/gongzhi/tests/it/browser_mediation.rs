//! Mediation in the browser: the committee's clerk registers a dispute on
//! the form its pack declares, takes it on and names the mediator from the
//! candidates; the mediator finds it in their own queue, records that the
//! parties did not agree and refers them to court. Another dispute, from a
//! hotline request the dispatcher then closes as converted, goes the
//! whole way: two sessions, an agreement both parties confirm, the printed
//! 调解协议书, the application for judicial confirmation and the follow-up;
//! the committee's dashboard then counts it.

use gongzhi_domain::role::Role;

use serde_json::json;

use crate::browser::{
    PASSWORD, add_user, attr_of, body, browser_available, choose, click, expand, fill, login,
    logout, shot, start_browser, text_of,
};
use crate::harness::{Backend, TestApp, spawn_app};

/// The street committee's clerk and mediator; returns the password hash
/// (for more users) and the mediator's id.
async fn committee(app: &TestApp) -> (String, String) {
    let hash = gongzhi_web::auth::hash_password(PASSWORD.into())
        .await
        .expect("hash");
    add_user(
        app,
        "web.clerk",
        Role::intern("mediation_clerk"),
        "D1",
        &hash,
    )
    .await;
    add_user(app, "web.mediator", Role::intern("mediator"), "D1", &hash).await;
    let mediator_id = app
        .db
        .user_by_username("web.mediator")
        .await
        .expect("user")
        .expect("exists")
        .id;
    (hash, mediator_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_is_registered_assigned_and_referred_in_the_pages() {
    if !browser_available() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await;
    let (_, mediator_id) = committee(&app).await;
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

/// Registers a dispute that a hotline request turned out to be (its receipt
/// code as origin) on the form, and names the mediator, as the clerk.
async fn registered_and_assigned(
    c: &fantoccini::Client,
    title: &str,
    origin: &str,
    mediator_id: &str,
) {
    click(c, "#nav-register").await;
    fill(c, "#new-title", title).await;
    choose(c, "#new-dispute_kind", "property").await;
    choose(c, "#new-source", "request").await;
    fill(c, "#new-origin", origin).await;
    fill(c, "#new-claim", "要求返还押金并赔偿").await;
    click(c, "#register-submit").await;
    click(c, "#do-accept").await;
    choose(c, "#assign_mediator-mediator", mediator_id).await;
    click(c, "#do-assign_mediator").await;
}

/// The two parties, as the clerk records them on the case page's form.
async fn add_parties(c: &fantoccini::Client) {
    for (role, kind, name, phone) in [
        ("applicant", "person", "陈晓梅", "13907310011"),
        ("respondent", "organisation", "东湖物业服务有限公司", ""),
    ] {
        expand(c, "#party-add summary").await;
        choose(c, "#party-role", role).await;
        choose(c, "#party-kind", kind).await;
        fill(c, "#party-name", name).await;
        if !phone.is_empty() {
            fill(c, "#party-phone", phone).await;
        }
        click(c, "#party-submit").await;
    }
    let page = body(c).await;
    assert!(
        page.contains("申请人") && page.contains("被申请人"),
        "{page}"
    );
    assert!(!page.contains("13907310011"), "the phone is masked: {page}");
}

/// Adds a record of `kind` from the case page's form; returns its id.
async fn add_record(c: &fantoccini::Client, kind: &str, fields: &[(&str, &str)]) -> String {
    expand(c, &format!("#record-add-{kind} summary")).await;
    for (key, value) in fields {
        let css = format!("#new-{kind}-{key}");
        if attr_of(c, &css, "type").await == "date" {
            // Typing into a date input follows the browser's locale; set it as a picker would.
            c.execute(
                "document.querySelector(arguments[0]).value = arguments[1];",
                vec![json!(css), json!(value)],
            )
            .await
            .expect("set date");
        } else {
            fill(c, &css, value).await;
        }
    }
    click(c, &format!("#record-submit-{kind}")).await;
    let id = attr_of(
        c,
        &format!("#records-{kind} + ul li[id^='record-']:last-child"),
        "id",
    )
    .await;
    id.trim_start_matches("record-").to_string()
}

/// Takes a record action from the case page, choosing `(field, value)` first.
async fn record_action(c: &fantoccini::Client, record: &str, action: &str, choice: (&str, &str)) {
    expand(c, &format!("#rec-{record}-{action} summary")).await;
    choose(c, &format!("#rec-{record}-{action}-{}", choice.0), choice.1).await;
    click(c, &format!("#rec-do-{record}-{action}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_is_mediated_to_an_agreement_in_the_pages() {
    if !browser_available() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await;
    let (hash, mediator_id) = committee(&app).await;
    add_user(
        &app,
        "web.dispatcher",
        Role::intern("dispatcher"),
        "D1",
        &hash,
    )
    .await;
    // A hotline call about a deposit the landlord's agent will not return.
    let request = app.create_request("物业公司不退租房押金").await;
    let receipt = app
        .db
        .case_unscoped(&request)
        .await
        .expect("case")
        .expect("exists")
        .receipt_code;
    let (_driver, c) = start_browser().await;
    login(&c, &app, "web.clerk", PASSWORD).await;
    registered_and_assigned(&c, "租房押金退还纠纷", &receipt, &mediator_id).await;
    let case = c
        .current_url()
        .await
        .expect("url")
        .path()
        .trim_start_matches("/cases/")
        .to_string();
    add_parties(&c).await;
    logout(&c).await;

    // The dispatcher closes the request as converted into the dispute.
    login(&c, &app, "web.dispatcher", PASSWORD).await;
    c.goto(&app.url(&format!("/cases/{request}")))
        .await
        .expect("request");
    fill(&c, "#convert-reason", "押金纠纷，转街道人民调解委员会调解").await;
    click(&c, "#do-convert").await;
    let page = body(&c).await;
    assert!(page.contains("已转办") && page.contains("转为"), "{page}");
    logout(&c).await;

    // The mediator holds two sessions and records the agreement.
    login(&c, &app, "web.mediator", PASSWORD).await;
    c.goto(&app.url(&format!("/cases/{case}")))
        .await
        .expect("case");
    for (on, minutes) in [
        ("2026-12-10", "双方陈述"),
        ("2026-12-17", "双方同意退还押金"),
    ] {
        let session = add_record(
            &c,
            "session",
            &[
                ("on", on),
                ("time", "10:00"),
                ("place", "东湖街道人民调解室"),
            ],
        )
        .await;
        expand(&c, &format!("#rec-{session}-hold summary")).await;
        fill(&c, &format!("#rec-{session}-hold-attendance"), "双方到场").await;
        fill(&c, &format!("#rec-{session}-hold-minutes"), minutes).await;
        click(&c, &format!("#rec-do-{session}-hold")).await;
    }
    let agreement = add_record(
        &c,
        "agreement",
        &[
            ("terms", "物业公司于十日内退还押金2000元"),
            ("amount", "2000"),
        ],
    )
    .await;
    record_action(
        &c,
        &agreement,
        "respondent_confirms",
        ("respondent_signature", "paper"),
    )
    .await;
    logout(&c).await;

    // The applicant confirms it herself on the public lookup, with the
    // dispute's receipt code and her own phone's last four digits.
    let code = app
        .db
        .case_unscoped(&case)
        .await
        .expect("case")
        .expect("exists")
        .receipt_code;
    c.goto(&app.url("/lookup")).await.expect("lookup");
    fill(&c, "#receipt_code", &code).await;
    fill(&c, "#phone_last4", "0011").await;
    click(&c, "#lookup-submit").await;
    assert!(text_of(&c, "#lookup-party").await.contains("申请人"));
    let records = text_of(&c, "#lookup-records").await;
    assert!(
        records.contains("东湖街道人民调解室") && records.contains("退还押金2000元"),
        "{records}"
    );
    shot(&c, "mediation-03a-party-lookup").await;
    click(&c, "#party-applicant_completes_online").await;
    assert!(text_of(&c, "#rate-notice").await.contains("已记录您的确认"));
    assert!(text_of(&c, "#lookup-records").await.contains("已生效"));

    login(&c, &app, "web.mediator", PASSWORD).await;
    c.goto(&app.url(&format!("/cases/{case}")))
        .await
        .expect("case");
    click(&c, "#do-reach_agreement").await;
    let page = body(&c).await;
    assert!(page.contains("已达成协议"), "{page}");
    shot(&c, "mediation-03-agreed").await;

    // The 调解协议书, printed from the pack's template.
    click(&c, &format!("#document-agreement-{agreement}")).await;
    let paper = body(&c).await;
    for text in [
        "人民调解协议书",
        "申请人：陈晓梅",
        "被申请人：东湖物业服务有限公司",
        "退还押金2000元",
    ] {
        assert!(paper.contains(text), "the agreement lacks {text}: {paper}");
    }
    shot(&c, "mediation-04-agreement-document").await;
    c.back().await.expect("back");
    c.goto(&app.url(&format!("/cases/{case}")))
        .await
        .expect("case");

    // 司法确认 within the 30 days, then the follow-up of performance.
    fill(
        &c,
        "#apply_confirmation-confirmation_court",
        "东湖区人民法院",
    )
    .await;
    click(&c, "#do-apply_confirmation").await;
    choose(&c, "#follow_up-performance", "performed").await;
    click(&c, "#do-follow_up").await;
    let page = body(&c).await;
    assert!(page.contains("已结案") || page.contains("已办结"), "{page}");
    logout(&c).await;

    // The committee's figures count it.
    login(&c, &app, "web.clerk", PASSWORD).await;
    c.goto(&app.url("/dashboard?pack=mediation&group=field:mediator"))
        .await
        .expect("dashboard");
    let page = body(&c).await;
    assert!(
        page.contains("调解成功率") && page.contains("协议履行率"),
        "{page}"
    );
    assert!(
        page.contains("100.0%"),
        "one agreed of one concluded: {page}"
    );
    shot(&c, "mediation-05-dashboard").await;
}
