//! gongzhi's HTTP surface: the JSON API under `/api/v1`, its OpenAPI document,
//! Open311 GeoReport v2 under `/open311/v2`, the server-rendered pages, authentication and the deadline worker's lifecycle.

pub mod api;
pub mod auth;
pub mod batcher;
pub mod error;
pub mod extract;
pub mod intake;
pub mod open311;
pub mod openapi;
pub mod pages;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use state::{AppState, LogConfig, ServerConfig, UPLOAD_OVERHEAD};

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    api::routes(&state.config)
        .merge(open311::routes())
        .merge(pages::routes())
        .merge(pages::upload_routes(&state.config))
        .fallback(pages::not_found)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| ApiError::internal().into_response(),
        ))
        .layer(TraceLayer::new_for_http())
        // Outermost, so a panic's 500 carries them too.
        .layer(axum::middleware::map_response(security_headers))
}

/// The Content-Security-Policy of every response: scripts, styles and the
/// rest from this origin only (no inline script or style; the map and charts
/// are inline SVG drawn on the server, images are attachments or `data:`),
/// and no framing by other sites.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Security headers on every response, unless a handler set its own.
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderName, HeaderValue, header};
    let headers = response.headers_mut();
    let defaults: [(HeaderName, &'static str); 4] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

/// Serves until `shutdown` completes, then lets in-flight requests finish and
/// stops the deadline worker between two deadlines and the log integrator
/// between two batches (never mid-transaction).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = tokio::spawn(deadline_worker(state.clone(), stop_rx.clone()));
    let integrator = tokio::spawn(log_worker(state.clone(), stop_rx));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
        })
        .await;
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let _ = integrator.await;
    result
}

/// Integrates new log entries into the stored tree as they commit, and signs
/// a checkpoint when the tree grew, at most once a second.
async fn log_worker(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut last_signed: Option<std::time::Instant> = None;
    loop {
        loop {
            if *stop.borrow() {
                return;
            }
            match state.db.integrate(state.config.log.batch).await {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "log integrator");
                    break;
                }
            }
        }
        if last_signed.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(1)) {
            match sign_checkpoint_if_grown(&state).await {
                Ok(true) => last_signed = Some(std::time::Instant::now()),
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "checkpoint signer"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(state.config.log.interval) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Signs the stored tree when it is larger than the newest checkpoint (or when
/// there is none yet, even empty, so witnesses can start from the beginning).
pub async fn sign_checkpoint_if_grown(state: &AppState) -> Result<bool, gongzhi_store::StoreError> {
    let tree = state.db.tree_state().await?;
    let latest = state.db.latest_checkpoint().await?;
    if latest.is_some_and(|cp| cp.tree_size >= tree.size) {
        return Ok(false);
    }
    let head = gongzhi_domain::checkpoint::TreeHead {
        origin: state.config.log.origin().to_string(),
        size: tree.size,
        root: tree.root,
    };
    let note = gongzhi_domain::checkpoint::sign_checkpoint(&head, &[&state.config.log.signer])
        .map_err(|e| gongzhi_store::StoreError::Corrupt(format!("signing: {e}")))?;
    state
        .db
        .insert_checkpoint(tree.size, &tree.root, &note)
        .await?;
    tracing::debug!(size = tree.size, "checkpoint signed");
    Ok(true)
}

/// Fires due deadlines every `deadline_interval`. Each firing is its own
/// transaction, so stopping between two can never leave half a firing.
async fn deadline_worker(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        loop {
            if *stop.borrow() {
                return;
            }
            match state
                .db
                .fire_due_deadlines(gongzhi_domain::time::now_micros(), 200)
                .await
            {
                Ok(0) => break,
                Ok(n) => tracing::info!(fired = n, "deadlines fired"),
                Err(e) => {
                    tracing::error!(error = %e, "deadline worker");
                    break;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(state.config.deadline_interval) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CONTENT_SECURITY_POLICY;

    fn directive(name: &str) -> String {
        CONTENT_SECURITY_POLICY
            .split(';')
            .map(str::trim)
            .find(|d| d.split_whitespace().next() == Some(name))
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn policy_forbids_inline_code_and_framing() {
        for name in ["script-src", "style-src"] {
            let d = directive(name);
            assert!(d.contains("'self'"), "{d}");
            assert!(!d.contains("unsafe"), "{d}");
        }
        assert_eq!(directive("frame-ancestors"), "frame-ancestors 'none'");
        assert_eq!(directive("object-src"), "object-src 'none'");
    }

    /// The policy holds only while templates keep scripts and styles in
    /// files: no inline `<script>` body, no `on…=` handler, no `style=`.
    #[test]
    fn templates_have_no_inline_script_or_style() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("templates") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("template");
            let name = path.display();
            let lower = text.to_ascii_lowercase();
            for (at, _) in lower.match_indices("<script") {
                let tag_end = lower[at..].find('>').map_or(lower.len(), |e| at + e + 1);
                let tag = &lower[at..tag_end];
                assert!(tag.contains(" src=\"/static/"), "{name}: {tag}");
                assert!(
                    lower[tag_end..].starts_with("</script>"),
                    "{name}: inline script after {tag}"
                );
            }
            assert!(!lower.contains(" style="), "{name}: style attribute");
            assert!(!lower.contains("<style"), "{name}: style element");
            assert!(!lower.contains("javascript:"), "{name}: javascript: URL");
            let handler = lower.match_indices(" on").any(|(at, _)| {
                let rest = &lower[at + 3..];
                let word: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
                !word.is_empty() && rest[word.len()..].starts_with('=')
            });
            assert!(!handler, "{name}: inline event handler");
            checked += 1;
        }
        assert!(checked > 10);
    }
}
