//! Documents a case issues from its pack's templates (`pack::TemplateDef`):
//! rendered to one self-contained HTML page that prints on A4, and hashed, so
//! that the log can say exactly which paper was issued.

use std::collections::HashSet;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Work a template may do in one rendering (minijinja's fuel): far above any
/// real document, low enough that a looping template cannot hang a request.
const FUEL: u64 = 200_000;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DocumentError {
    #[error("template line {line}: {message}")]
    Template { line: usize, message: String },
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    // A blank that the context lacks is an error, never an empty line on paper.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env
}

fn template_error(e: &minijinja::Error) -> DocumentError {
    DocumentError::Template {
        line: e.line().unwrap_or(1),
        message: e
            .detail()
            .map_or_else(|| e.kind().to_string(), str::to_string),
    }
}

/// The names a template reads from its context (`case`, `fields.claim`, …),
/// or why it does not parse.
pub fn read_names(body: &str) -> Result<HashSet<String>, DocumentError> {
    let env = environment();
    let template = env
        .template_from_str(body)
        .map_err(|e| template_error(&e))?;
    Ok(template.undeclared_variables(true))
}

/// Renders `body` over `context` into a whole HTML page titled `title`, laid
/// out for A4.
pub fn render(title: &str, body: &str, context: &Value) -> Result<String, DocumentError> {
    let env = environment();
    let template = env
        .template_from_str(body)
        .map_err(|e| template_error(&e))?;
    let inner = template.render(context).map_err(|e| template_error(&e))?;
    let title = escape(title);
    Ok(format!(
        "<!doctype html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n<style>{PRINT_CSS}</style>\n</head>\n<body>\n\
         <article class=\"document\">\n{inner}\n</article>\n</body>\n</html>\n"
    ))
}

/// The SHA-256 of a rendered document, as the log records it.
pub fn digest(html: &str) -> String {
    hex::encode(Sha256::digest(html.as_bytes()))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A4 with the margins Chinese official papers use (GB/T 9704: 37 mm top,
/// 28 mm left), a serif CJK face where the machine has one, and nothing of
/// the console's chrome.
const PRINT_CSS: &str = "@page { size: A4; margin: 37mm 26mm 35mm 28mm; }\
 html { background: #fff; color: #000; }\
 body { margin: 0 auto; max-width: 156mm; font-family: 'Noto Serif CJK SC', 'Source Han Serif SC', 'SimSun', 'WenQuanYi Zen Hei', serif; font-size: 16pt; line-height: 1.75; }\
 h1 { font-size: 22pt; text-align: center; font-weight: bold; margin: 0 0 1em; }\
 h2 { font-size: 16pt; margin: 1em 0 0.3em; }\
 p { margin: 0 0 0.4em; text-indent: 2em; }\
 p.plain, td p, .signatures p { text-indent: 0; }\
 table { border-collapse: collapse; width: 100%; }\
 td, th { border: 1px solid #000; padding: 0.2em 0.4em; vertical-align: top; text-align: left; }\
 .signatures { margin-top: 2em; display: grid; grid-template-columns: 1fr 1fr; gap: 1.5em; }\
 .right { text-align: right; }\
 @media screen { body { padding: 20mm 0; } }";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_escaped_into_an_a4_page_and_hashes_it() {
        let html = render(
            "协议书",
            "<h1>协议书</h1><p>{{ fields.claim }}</p>{% for p in parties %}<p>{{ p.role_name }}：{{ p.name }}</p>{% endfor %}",
            &json!({"fields": {"claim": "拆除<雨棚>"}, "parties": [{"role_name": "申请人", "name": "王某"}]}),
        )
        .expect("renders");
        assert!(html.contains("拆除&lt;雨棚&gt;"), "auto-escaped: {html}");
        assert!(html.contains("申请人：王某"));
        assert!(html.contains("size: A4"));
        assert_eq!(digest(&html).len(), 64);
        assert_eq!(digest(&html), digest(&html.clone()), "stable");
    }

    #[test]
    fn a_missing_blank_or_a_broken_template_is_an_error_not_a_blank() {
        let missing = render("x", "{{ fields.nothing }}", &json!({"fields": {}}));
        assert!(matches!(missing, Err(DocumentError::Template { .. })));
        let broken = read_names("line one\n{% for x in %}");
        assert!(
            matches!(broken, Err(DocumentError::Template { line: 2, .. })),
            "{broken:?}"
        );
        let names =
            read_names("{{ case.receipt_code }}{% for p in parties %}{{ p.name }}{% endfor %}")
                .expect("parses");
        assert!(names.contains("case.receipt_code") && names.contains("parties"));
        assert!(
            !names.iter().any(|n| n.starts_with("p.")),
            "loop variables are the template's own"
        );
    }

    #[test]
    fn a_template_that_loops_forever_runs_out_of_fuel() {
        let r = render(
            "x",
            "{% for a in range(100000) %}{% for b in range(100000) %}.{% endfor %}{% endfor %}",
            &json!({}),
        );
        assert!(r.is_err());
    }
}
