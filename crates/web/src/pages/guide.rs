//! The public guides: a pack's guided self-help before filing
//! (`[guides.<id>]`), one question per page. The path so far travels in the
//! address (`?path=a,b`), so nothing is stored about who reads a guide.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use gongzhi_domain::pack::{GuideDef, Names};

use super::session::MaybeStaff;
use super::{Ctx, Lang, PageError, render};
use crate::state::AppState;

/// Longest path a reader may bring back (a guide has at most 200 steps).
const MAX_PATH: usize = 200;

pub struct GuideLink {
    pub href: String,
    pub name: String,
    pub intro: String,
}

#[derive(Template)]
#[template(path = "guides.html")]
struct GuidesPage {
    p: Ctx,
    guides: Vec<GuideLink>,
}

pub async fn list(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
) -> Response {
    let p = Ctx::new(&state, lang, staff.as_ref(), "/guides");
    let guides = state
        .packs
        .guides()
        .map(|(pack, g)| GuideLink {
            href: format!("/guides/{}/{}", pack.id, g.id),
            name: pick(lang, &g.name),
            intro: g.intro.as_ref().map(|i| pick(lang, i)).unwrap_or_default(),
        })
        .collect();
    render(StatusCode::OK, &GuidesPage { p, guides })
}

/// One answer to choose: where it leads, with the path that far.
pub struct AnswerLink {
    pub href: String,
    pub label: String,
}

/// A question already answered, to go back to.
pub struct Crumb {
    pub href: String,
    pub question: String,
    pub answer: String,
}

#[derive(Template)]
#[template(path = "guide.html")]
struct GuidePage {
    p: Ctx,
    name: String,
    intro: String,
    step_id: String,
    /// Paragraphs of the question or the information.
    text: Vec<String>,
    answers: Vec<AnswerLink>,
    options: Vec<String>,
    file: bool,
    crumbs: Vec<Crumb>,
    restart: String,
}

#[derive(Deserialize)]
pub struct GuideQuery {
    path: Option<String>,
}

fn pick(lang: Lang, n: &Names) -> String {
    lang.pick(&n.zh, &n.en).to_string()
}

/// The steps a path of answer numbers walks from the start, or `None` when
/// it is not a path through this guide (an old or edited address).
fn walk<'g>(guide: &'g GuideDef, path: &[usize]) -> Option<Vec<(&'g str, Option<usize>)>> {
    let mut at = guide.start.as_str();
    let mut out = Vec::with_capacity(path.len() + 1);
    for &i in path {
        let answer = guide.steps.get(at)?.answers.get(i)?;
        out.push((at, Some(i)));
        at = answer.next.as_str();
    }
    out.push((at, None));
    Some(out)
}

pub async fn show(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
    Path((pack, id)): Path<(String, String)>,
    Query(q): Query<GuideQuery>,
) -> Response {
    let staff = staff.as_ref();
    let Some(guide) = state.packs.guide(&pack, &id) else {
        return PageError::NotFound.render(&state, lang, staff);
    };
    let raw = q.path.unwrap_or_default();
    let path: Option<Vec<usize>> = raw
        .split(',')
        .filter(|s| !s.is_empty())
        .take(MAX_PATH + 1)
        .map(|s| s.parse().ok())
        .collect();
    let Some(steps) = path
        .filter(|p| p.len() <= MAX_PATH)
        .and_then(|p| walk(guide, &p))
    else {
        return PageError::NotFound.render(&state, lang, staff);
    };
    let base = format!("/guides/{pack}/{id}");
    let href = |answers: &[usize]| {
        let list: Vec<String> = answers.iter().map(usize::to_string).collect();
        format!("{base}?path={}", list.join(","))
    };
    let mut so_far = Vec::new();
    let mut crumbs = Vec::new();
    for (step, answer) in &steps {
        let (Some(def), Some(i)) = (guide.steps.get(*step), answer) else {
            continue;
        };
        crumbs.push(Crumb {
            href: href(&so_far),
            question: pick(lang, &def.text),
            answer: def
                .answers
                .get(*i)
                .map(|a| pick(lang, &a.label))
                .unwrap_or_default(),
        });
        so_far.push(*i);
    }
    let here = steps.last().map_or(guide.start.as_str(), |(s, _)| s);
    let Some(step) = guide.steps.get(here) else {
        return PageError::NotFound.render(&state, lang, staff);
    };
    let answers = step
        .answers
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut next = so_far.clone();
            next.push(i);
            AnswerLink {
                href: href(&next),
                label: pick(lang, &a.label),
            }
        })
        .collect();
    let text = pick(lang, &step.text)
        .split("\n\n")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let page = GuidePage {
        p: Ctx::new(&state, lang, staff, &base),
        name: pick(lang, &guide.name),
        intro: if crumbs.is_empty() {
            guide
                .intro
                .as_ref()
                .map(|i| pick(lang, i))
                .unwrap_or_default()
        } else {
            String::new()
        },
        step_id: step.id.clone(),
        text,
        answers,
        options: step.options.iter().map(|o| pick(lang, o)).collect(),
        file: step.file,
        crumbs,
        restart: base.clone(),
    };
    render(StatusCode::OK, &page)
}
