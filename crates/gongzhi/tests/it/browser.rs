//! The pages in a real headless browser: Debian's chromium driven through
//! chromedriver over WebDriver. A request walks from the public portal through
//! the operator, dispatcher and handler back to the citizen's lookup.
//! Screenshots land in `target/screenshots/`.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use gongzhi_domain::role::Role;

use crate::harness::{Backend, TestApp, spawn_app, tempdir::TempDir};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub(crate) const PASSWORD: &str = "browser-pass-1";

/// chromedriver on a free port, stopped when dropped.
pub(crate) struct Driver {
    child: Child,
    port: u16,
    _profile: TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver leads its own process group: ending the group also ends
        // the browser it started, even when the test failed half-way.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Whether the browser can run here. In CI its absence is a failure.
pub(crate) fn browser_available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{CHROMIUM} and {CHROMEDRIVER} are required in CI (apt-get install chromium chromium-driver)"
        );
        eprintln!("{CHROMIUM} or {CHROMEDRIVER} missing: browser test not run");
    }
    present
}

pub(crate) async fn start_browser() -> (Driver, Client) {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = TempDir::new();
    let driver = Driver {
        child,
        port,
        _profile: profile,
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caps = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--lang=zh-CN",
                format!("--user-data-dir={}", driver._profile.path.display()),
            ]
        }
    });
    let caps = match caps {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    };
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("WebDriver session");
    (driver, client)
}

pub(crate) fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

pub(crate) async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

pub(crate) async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

pub(crate) async fn fill(c: &Client, css: &str, value: &str) {
    let el = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    el.clear().await.expect("clear");
    el.send_keys(value).await.expect("type");
}

pub(crate) async fn choose(c: &Client, css: &str, value: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("{css} = {value}: {e}"));
}

/// Marks the current document, so a wait can tell when a new one has loaded.
pub(crate) async fn mark_page(c: &Client) {
    c.execute("window.__gzOld = true;", vec![])
        .await
        .expect("mark page");
}

/// Waits until the marked document has been replaced and the new one loaded.
pub(crate) async fn wait_new_page(c: &Client) {
    for _ in 0..200 {
        let fresh = c
            .execute(
                "return window.__gzOld === undefined && document.readyState === 'complete';",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if fresh {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no new page after 10 s");
}

/// Clicks something that loads a new page (a link or a form's button) and
/// waits for it.
pub(crate) async fn click(c: &Client, css: &str) {
    let el = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    mark_page(c).await;
    el.click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
    wait_new_page(c).await;
}

/// Clicks something that changes the page in place (a summary that opens).
pub(crate) async fn expand(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// An attribute of the first element `css` finds.
pub(crate) async fn attr_of(c: &Client, css: &str, name: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .attr(name)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

pub(crate) async fn open_link(c: &Client, text: &str) {
    let el = c
        .find(Locator::LinkText(text))
        .await
        .unwrap_or_else(|e| panic!("link {text}: {e}"));
    mark_page(c).await;
    el.click().await.expect("open link");
    wait_new_page(c).await;
}

pub(crate) async fn body(c: &Client) -> String {
    text_of(c, "body").await
}

pub(crate) async fn login(c: &Client, app: &TestApp, user: &str, password: &str) {
    c.goto(&app.url("/login")).await.expect("login page");
    fill(c, "#username", user).await;
    fill(c, "#password", password).await;
    click(c, "#login-submit").await;
}

pub(crate) async fn logout(c: &Client) {
    click(c, "#logout").await;
    assert!(body(c).await.contains("您已退出登录"));
}

pub(crate) async fn add_user(app: &TestApp, name: &str, role: Role, unit: &str, hash: &str) {
    let user = app
        .db
        .create_user(name, name, Some(hash))
        .await
        .expect("user");
    app.db
        .grant_role(&user.id, role, &app.unit(unit))
        .await
        .expect("grant");
}

/// On the lookup page showing a request that waits for a rating: ticks
/// `satisfaction` and sends it.
async fn rate_as_citizen(c: &Client, satisfaction: &str) {
    c.find(Locator::Css(&format!(
        "#rate-form input[value='{satisfaction}']"
    )))
    .await
    .expect("rating")
    .click()
    .await
    .expect("tick");
    click(c, "#rate-submit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_walks_through_the_pages() {
    if !browser_available() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await;
    let hash = gongzhi_web::auth::hash_password(PASSWORD.into())
        .await
        .expect("hash");
    add_user(&app, "web.operator", Role::intern("operator"), "D1", &hash).await;
    add_user(
        &app,
        "web.dispatcher",
        Role::intern("dispatcher"),
        "D1",
        &hash,
    )
    .await;
    add_user(&app, "web.handler", Role::intern("handler"), "D1-CG", &hash).await;
    add_user(&app, "web.outsider", Role::intern("handler"), "D2", &hash).await;
    add_user(&app, "web.locked", Role::intern("operator"), "D1", &hash).await;
    add_user(&app, "web.grid", Role::intern("grid_worker"), "G1a", &hash).await;
    let (_driver, c) = start_browser().await;

    // A citizen submits a request on the portal (Chinese by default).
    c.goto(&app.url("/")).await.expect("home");
    assert_eq!(text_of(&c, "h1").await, "市民服务");
    shot(&c, "01-portal-home").await;
    click(&c, "a[href='/submit']").await;
    choose(&c, "#category", "R01").await;
    fill(&c, "#title", "人行道施工围挡倒塌").await;
    fill(
        &c,
        "#description",
        "东门外人行道的施工围挡倒了，行人只能走机动车道。",
    )
    .await;
    fill(&c, "#address", "一区一街道东门外").await;
    fill(&c, "#lat", "28.05").await;
    fill(&c, "#lng", "113.1").await;
    fill(&c, "#contact_name", "张三").await;
    fill(&c, "#contact_phone", "13800001234").await;
    shot(&c, "02-portal-submit").await;
    click(&c, "#submit-request").await;
    let receipt = text_of(&c, "#receipt-code").await;
    assert!(receipt.len() >= 8, "receipt code {receipt:?}");
    shot(&c, "03-portal-receipt").await;
    let case = app
        .db
        .case_by_receipt(&receipt)
        .await
        .expect("lookup")
        .expect("case made");

    // The operator: a wrong password first, then the request on My work.
    login(&c, &app, "web.operator", "wrong-password").await;
    assert_eq!(text_of(&c, "#login-error").await, "用户名或密码错误。");
    shot(&c, "04-login-error").await;
    login(&c, &app, "web.operator", PASSWORD).await;
    assert!(
        c.current_url()
            .await
            .expect("url")
            .path()
            .starts_with("/work")
    );
    assert!(
        body(&c).await.contains(&receipt),
        "operator sees the new request"
    );
    assert!(text_of(&c, "#queue-registered").await.contains('1'));
    shot(&c, "05-work-operator").await;
    logout(&c).await;

    // The dispatcher opens it from the 待分拨 queue and dispatches it to the
    // suggested unit.
    login(&c, &app, "web.dispatcher", PASSWORD).await;
    click(&c, "#queue-registered").await;
    open_link(&c, &receipt).await;
    assert_eq!(text_of(&c, "#case-state").await, "待分拨");
    let personal = text_of(&c, "#case-personal").await;
    assert!(personal.contains("138****1234"), "phone masked: {personal}");
    assert!(!personal.contains("13800001234"));
    let target = c
        .find(Locator::Css("#dispatch-target"))
        .await
        .expect("dispatch target")
        .prop("value")
        .await
        .expect("value");
    assert_eq!(
        target.as_deref(),
        Some(app.unit("D1-CG").as_str()),
        "suggested unit preselected"
    );
    shot(&c, "06-case-dispatcher").await;
    click(&c, "#do-dispatch").await;
    assert_eq!(text_of(&c, "#case-state").await, "待签收");
    assert!(text_of(&c, "#case-timeline").await.contains("分拨"));
    // Revealing personal data is logged.
    fill(&c, "#purpose", "回访需要联系诉求人").await;
    click(&c, "#reveal").await;
    assert!(text_of(&c, "#case-personal").await.contains("13800001234"));
    assert_eq!(
        app.db.personal_reads_count(&case.id).await.expect("reads"),
        1
    );
    logout(&c).await;

    // The handling unit returns it once, saying why; the dispatcher sends
    // it back to them; they accept it.
    login(&c, &app, "web.handler", PASSWORD).await;
    click(&c, "#queue-dispatched").await;
    open_link(&c, &receipt).await;
    fill(&c, "#return-reason", "围挡属于建设工地，应由住建部门处理。").await;
    click(&c, "#do-return").await;
    // Handed back up: the unit no longer holds it, so My work opens.
    assert!(
        c.current_url()
            .await
            .expect("url")
            .path()
            .starts_with("/work")
    );
    assert!(!body(&c).await.contains(&receipt));
    logout(&c).await;
    login(&c, &app, "web.dispatcher", PASSWORD).await;
    c.goto(&app.url(&format!("/cases/{}", case.id)))
        .await
        .expect("case");
    assert_eq!(text_of(&c, "#case-state").await, "退回待裁定");
    assert!(
        text_of(&c, "#case-timeline")
            .await
            .contains("围挡属于建设工地")
    );
    fill(
        &c,
        "#dispatch-internal_note",
        "人行道安全由城管负责，请先处理。",
    )
    .await;
    click(&c, "#do-dispatch").await;
    assert_eq!(text_of(&c, "#case-state").await, "待签收");
    logout(&c).await;
    login(&c, &app, "web.handler", PASSWORD).await;
    click(&c, "#queue-dispatched").await;
    open_link(&c, &receipt).await;
    click(&c, "#do-accept").await;
    assert_eq!(text_of(&c, "#case-state").await, "办理中");
    // A report without its required fields is refused by the browser; one
    // with them goes through.
    fill(
        &c,
        "#report-result",
        "已联系施工单位重新加固围挡，人行道恢复通行。",
    )
    .await;
    choose(&c, "#report-outcome", "resolved").await;
    shot(&c, "07-case-handler").await;
    click(&c, "#do-report").await;
    assert_eq!(text_of(&c, "#case-state").await, "待回访");

    // Switching to English changes the page's strings, and is remembered.
    click(&c, "#switch-lang").await;
    assert_eq!(text_of(&c, "#case-state").await, "To follow up");
    let page = body(&c).await;
    for s in [
        "History",
        "Deadlines",
        "Log out",
        "My work",
        "Handling unit",
        "Report result",
    ] {
        assert!(page.contains(s), "English page lacks {s:?}");
    }
    for s in ["办理过程", "办理期限", "退出登录", "我的工作", "当前状态"] {
        assert!(!page.contains(s), "English page still shows {s:?}");
    }
    shot(&c, "08-case-english").await;
    c.goto(&app.url("/work")).await.expect("work");
    assert_eq!(text_of(&c, "h1").await, "My work");
    click(&c, "#switch-lang").await;
    assert_eq!(text_of(&c, "h1").await, "我的工作");
    logout(&c).await;

    // A user out of scope gets the same 404 page as for a missing case.
    login(&c, &app, "web.outsider", PASSWORD).await;
    c.goto(&app.url(&format!("/cases/{}", case.id)))
        .await
        .expect("case");
    let out_of_scope = text_of(&c, "main").await;
    assert_eq!(text_of(&c, "#error-title").await, "页面不存在");
    shot(&c, "09-case-out-of-scope").await;
    c.goto(&app.url("/cases/no-such-case")).await.expect("case");
    assert_eq!(text_of(&c, "main").await, out_of_scope);
    logout(&c).await;

    // The citizen looks the request up by its code and the phone's last digits.
    c.goto(&app.url("/lookup")).await.expect("lookup");
    fill(&c, "#receipt_code", &receipt).await;
    fill(&c, "#phone_last4", "9999").await;
    click(&c, "#lookup-submit").await;
    assert!(text_of(&c, "#lookup-error").await.contains("没有找到"));
    fill(&c, "#receipt_code", &receipt).await;
    fill(&c, "#phone_last4", "1234").await;
    click(&c, "#lookup-submit").await;
    assert_eq!(text_of(&c, "#lookup-state").await, "待回访");
    let result = text_of(&c, "#lookup-result").await;
    assert!(
        result.contains("已联系施工单位"),
        "the public sees the result: {result}"
    );
    assert!(!result.contains("web.handler"), "no staff names in public");
    shot(&c, "10-portal-lookup").await;
    // The citizen is not satisfied (the code and digits are sent again): the
    // request goes back to the unit for re-handling (重办).
    rate_as_citizen(&c, "unsatisfied").await;
    assert_eq!(text_of(&c, "#lookup-state").await, "办理中");
    assert!(c.find(Locator::Css("#rate-form")).await.is_err());
    login(&c, &app, "web.handler", PASSWORD).await;
    c.goto(&app.url(&format!("/cases/{}", case.id)))
        .await
        .expect("case");
    fill(
        &c,
        "#report-result",
        "重新设置了硬质围挡并加装警示灯，已现场复查。",
    )
    .await;
    choose(&c, "#report-outcome", "resolved").await;
    click(&c, "#do-report").await;
    assert_eq!(text_of(&c, "#case-state").await, "待回访");
    logout(&c).await;
    c.goto(&app.url("/lookup")).await.expect("lookup");
    fill(&c, "#receipt_code", &receipt).await;
    fill(&c, "#phone_last4", "1234").await;
    click(&c, "#lookup-submit").await;
    rate_as_citizen(&c, "satisfied").await;
    assert!(text_of(&c, "#rate-notice").await.contains("感谢"));
    assert_eq!(text_of(&c, "#lookup-state").await, "待核验");

    // The district dispatcher's map and dashboard.
    login(&c, &app, "web.dispatcher", PASSWORD).await;
    click(&c, "#nav-map").await;
    let street = format!("#shape-{} path", app.unit("S1"));
    c.find(Locator::Css(&street)).await.expect("street shape");
    assert!(text_of(&c, "#map-total").await.contains('1'));
    // Zoomed to the community: its two grids, one with the open case.
    c.goto(&app.url(&format!("/map?unit={}", app.unit("M1"))))
        .await
        .expect("community map");
    let grid = format!("#shape-{}", app.unit("G1a"));
    let count = c
        .find(Locator::Css(&grid))
        .await
        .expect("grid shape")
        .attr("data-count")
        .await
        .expect("count");
    assert_eq!(count.as_deref(), Some("1"));
    shot(&c, "12-map").await;
    click(&c, "#nav-dashboard").await;
    c.find(Locator::Css("figure.chart-box svg rect"))
        .await
        .expect("chart drawn");
    assert!(text_of(&c, "#dashboard-table").await.contains("合计"));
    shot(&c, "13-dashboard").await;
    logout(&c).await;

    // Too many wrong passwords lock the account, and the page says so.
    for _ in 0..5 {
        login(&c, &app, "web.locked", "wrong-password").await;
    }
    login(&c, &app, "web.locked", PASSWORD).await;
    assert!(text_of(&c, "#login-error").await.contains("已暂时锁定"));

    // The operator takes a call: preview shows the routing and the request
    // above as a likely duplicate; save opens the new case.
    login(&c, &app, "web.operator", PASSWORD).await;
    c.goto(&app.url("/intake")).await.expect("intake");
    fill(&c, "#contact_name", "王五").await;
    fill(&c, "#contact_phone", "13600002222").await;
    // The page scripts run from /static under the CSP: typing filters the
    // categories, a click on the map fills the coordinates.
    fill(&c, "#q", "R01").await;
    let filtered = c
        .execute(
            "return Array.prototype.some.call(document.querySelectorAll('#category option'), function (o) { return o.hidden; });",
            vec![],
        )
        .await
        .expect("filter")
        .as_bool();
    assert_eq!(filtered, Some(true), "the category filter did not run");
    c.find(Locator::Css("#picker-svg"))
        .await
        .expect("picker")
        .click()
        .await
        .expect("click the map");
    let picked = c
        .find(Locator::Css("#lat"))
        .await
        .expect("lat")
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert!(
        picked.parse::<f64>().is_ok(),
        "the map click set lat to {picked:?}"
    );
    choose(&c, "#category", "R01").await;
    fill(&c, "#title", "东门外围挡又倒了").await;
    fill(&c, "#description", "行人走机动车道，很危险。").await;
    fill(&c, "#address", "一区一街道东门外").await;
    fill(&c, "#lat", "28.0502").await;
    fill(&c, "#lng", "113.1").await;
    click(&c, "#intake-preview").await;
    assert!(!text_of(&c, "#route-unit").await.is_empty());
    assert!(!text_of(&c, "#route-reason").await.is_empty());
    assert!(text_of(&c, "#duplicates").await.contains(&receipt));
    shot(&c, "14-intake").await;
    click(&c, "#intake-save").await;
    assert_eq!(text_of(&c, "#case-state").await, "待分拨");
    logout(&c).await;

    // Public statistics.
    c.goto(&app.url("/stats")).await.expect("stats");
    assert_eq!(text_of(&c, "#stats-total").await, "2");
    shot(&c, "16-stats").await;

    // A phone-sized screen.
    c.set_window_size(360, 800).await.expect("resize");
    c.goto(&app.url("/submit")).await.expect("submit");
    shot(&c, "11-portal-submit-360").await;

    // The grid worker verifies the rated request on site.
    login(&c, &app, "web.grid", PASSWORD).await;
    c.goto(&app.url("/grid")).await.expect("grid");
    let task = format!("#task-{receipt}");
    assert!(text_of(&c, &task).await.contains(&receipt));
    shot(&c, "15-grid-360").await;
    c.find(Locator::Css(&format!("{task} input[value='passed']")))
        .await
        .expect("passed")
        .click()
        .await
        .expect("tick");
    click(&c, &format!("{task} button.verify")).await;
    assert!(text_of(&c, "#grid-verified").await.contains("已记录"));
    logout(&c).await;
    c.set_window_size(1280, 1000).await.expect("resize");

    // The dispatcher closes it; the dashboard counts it closed.
    login(&c, &app, "web.dispatcher", PASSWORD).await;
    c.goto(&app.url(&format!("/cases/{}", case.id)))
        .await
        .expect("case");
    assert_eq!(text_of(&c, "#case-state").await, "待结案");
    click(&c, "#do-close").await;
    assert_eq!(text_of(&c, "#case-state").await, "已结案");
    let timeline = text_of(&c, "#case-timeline").await;
    for step in [
        "受理登记",
        "分拨",
        "退回",
        "签收",
        "办结反馈",
        "回访",
        "核验",
        "结案",
    ] {
        assert!(timeline.contains(step), "timeline lacks {step}: {timeline}");
    }
    shot(&c, "17-case-closed").await;
    click(&c, "#nav-dashboard").await;
    // Columns: received, accepted on time, handled on time, closed, ...
    let closed = text_of(&c, "#dashboard-table tfoot td:nth-of-type(4)").await;
    // Two received: this one (closed) and the operator's call (open).
    assert!(closed.contains("1/2"), "closed among received: {closed}");
    let rework = text_of(&c, "#dashboard-table tfoot td:nth-of-type(5)").await;
    assert!(
        rework.contains("1/"),
        "the re-handling is counted: {rework}"
    );
    shot(&c, "18-dashboard-closed").await;
    logout(&c).await;

    // The citizen's lookup: closed, with the public history of every step.
    c.goto(&app.url("/lookup")).await.expect("lookup");
    fill(&c, "#receipt_code", &receipt).await;
    fill(&c, "#phone_last4", "1234").await;
    click(&c, "#lookup-submit").await;
    assert_eq!(text_of(&c, "#lookup-state").await, "已结案");
    let history = text_of(&c, "#lookup-timeline").await;
    for step in [
        "受理登记",
        "分拨",
        "签收",
        "办结反馈",
        "回访",
        "核验",
        "结案",
    ] {
        assert!(
            history.contains(step),
            "public history lacks {step}: {history}"
        );
    }
    assert!(history.contains("重新设置了硬质围挡"), "{history}");
    for private in [
        "web.handler",
        "web.dispatcher",
        "人行道安全由城管负责",
        "13800001234",
    ] {
        assert!(!history.contains(private), "public history shows {private}");
    }
    shot(&c, "19-lookup-closed").await;
    assert_eq!(
        app.db
            .case_unscoped(&case.id)
            .await
            .expect("case")
            .expect("case")
            .state,
        "closed"
    );

    c.close().await.expect("close browser");
}

/// The work queues' filters, on both backends (the title search differs in SQL).
async fn work_queue_filters(backend: Backend) {
    use gongzhi_store::{CaseFilter, CaseSort, DueFilter};
    let app = spawn_app(backend).await;
    let a = app.create_request("路灯不亮 50%").await;
    let b = app.create_request("井盖缺失").await;
    let actor = app
        .db
        .actor(
            &app.db
                .user_by_username("d1.dispatcher")
                .await
                .expect("user")
                .expect("user")
                .id,
        )
        .await
        .expect("actor")
        .expect("actor");
    let ids =
        |cases: Vec<gongzhi_store::CaseRecord>| cases.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let find = |text: &str| CaseFilter {
        text: Some(text.into()),
        open_only: true,
        limit: 50,
        ..CaseFilter::default()
    };
    assert_eq!(
        ids(app.db.cases_for(&actor, &find("路灯")).await.expect("text")),
        vec![a.clone()]
    );
    // LIKE wildcards in the text match only themselves.
    assert_eq!(
        ids(app.db.cases_for(&actor, &find("50%")).await.expect("text")),
        vec![a.clone()]
    );
    assert!(
        app.db
            .cases_for(&actor, &find("%"))
            .await
            .expect("text")
            .len()
            == 1
    );
    let receipt = app
        .db
        .case_unscoped(&b)
        .await
        .expect("case")
        .expect("case")
        .receipt_code;
    assert_eq!(
        ids(app
            .db
            .cases_for(&actor, &find(&receipt.to_lowercase()))
            .await
            .expect("code")),
        vec![b.clone()]
    );
    let now = gongzhi_domain::time::now_micros();
    let day = gongzhi_domain::time::MICROS_PER_DAY;
    let due = |due: DueFilter| CaseFilter {
        due: Some(due),
        sort: CaseSort::DueFirst,
        limit: 50,
        ..CaseFilter::default()
    };
    assert_eq!(
        app.db
            .count_cases_for(&actor, &due(DueFilter::Overdue { now }))
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        app.db
            .count_cases_for(
                &actor,
                &due(DueFilter::Overdue {
                    now: now + 30 * day
                })
            )
            .await
            .expect("count"),
        2
    );
    assert_eq!(
        app.db
            .count_cases_for(
                &actor,
                &due(DueFilter::Soon {
                    now: now + 23 * 3_600_000_000
                })
            )
            .await
            .expect("count"),
        2
    );
    let sorted = app
        .db
        .cases_for(
            &actor,
            &due(DueFilter::Overdue {
                now: now + 30 * day,
            }),
        )
        .await
        .expect("sorted");
    assert_eq!(
        ids(sorted),
        vec![a.clone(), b.clone()],
        "earliest deadline first"
    );
    let running = app
        .db
        .running_deadlines(&[a.clone(), b.clone()])
        .await
        .expect("deadlines");
    assert_eq!(running.len(), 2);
    let by_category = CaseFilter {
        category: Some("R01".into()),
        limit: 50,
        ..CaseFilter::default()
    };
    assert_eq!(
        app.db
            .count_cases_for(&actor, &by_category)
            .await
            .expect("count"),
        0
    );
}

crate::db_test!(work_queue_filters);
