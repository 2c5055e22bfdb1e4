//! Background jobs of the admin pages (GeoJSON imports): kept in memory with
//! their progress, shown on a page that polls a small JSON status (and
//! refreshes itself without JavaScript).

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;
use crate::state::jobs::{Job, JobState};

use super::super::{Ctx, Lang, PageError, Staff, render};
use super::{is_admin, refuse};

#[derive(Template)]
#[template(path = "admin_job.html")]
struct JobPage {
    p: Ctx,
    id: String,
    job: Job,
    steps: String,
}

impl JobPage {
    fn running(&self) -> bool {
        self.job.state == JobState::Running
    }
    fn done(&self) -> bool {
        self.job.state == JobState::Done
    }
    fn failed(&self) -> bool {
        self.job.state == JobState::Failed
    }
}

pub async fn page(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path(id): Path<String>,
) -> Response {
    if !is_admin(&staff) {
        return refuse(&state, lang, &staff);
    }
    let Some(job) = state.jobs.get(&id, &staff.actor.user_id) else {
        return PageError::NotFound.render(&state, lang, Some(&staff));
    };
    let steps = lang.tf(
        "admin.job_steps",
        &[
            ("done", &job.done.to_string()),
            ("total", &job.total.to_string()),
        ],
    );
    let page = JobPage {
        p: Ctx::new(&state, lang, Some(&staff), &format!("/admin/jobs/{id}")),
        id,
        job,
        steps,
    };
    render(StatusCode::OK, &page)
}

/// `{"state", "done", "total", "percent", "message"}` for the page's script.
pub async fn status(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Response {
    let job = is_admin(&staff)
        .then(|| state.jobs.get(&id, &staff.actor.user_id))
        .flatten();
    match job {
        Some(job) => Json(json!({
            "state": job.state,
            "done": job.done,
            "total": job.total,
            "percent": job.percent(),
            "message": job.message,
        }))
        .into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"code": "not_found"}))).into_response(),
    }
}
