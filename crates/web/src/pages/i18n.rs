//! The message catalog: every visible string of the pages, in zh-CN (the
//! default) and English, from `crates/web/i18n/*.toml` built into the binary.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

pub const LANG_COOKIE: &str = "gz_lang";

const ZH: &str = include_str!("../../i18n/zh-CN.toml");
const EN: &str = include_str!("../../i18n/en.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "zh-CN" | "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The catalog's string for `key`; the key itself if missing (a test
    /// makes sure no used key is missing).
    pub fn t(self, key: &str) -> &'static str {
        let catalog = &*CATALOG;
        let map = match self {
            Lang::Zh => &catalog.zh,
            Lang::En => &catalog.en,
        };
        match map.get(key) {
            Some(s) => s.as_str(),
            None => {
                tracing::warn!(key, "missing message");
                "?"
            }
        }
    }

    /// `t(key)` with `{name}` placeholders filled in.
    pub fn tf(self, key: &str, args: &[(&str, &str)]) -> String {
        let mut out = self.t(key).to_string();
        for (name, value) in args {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }

    /// Picks the name in this language from a pack's or taxonomy's names.
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// The language remembered in the `gz_lang` cookie; zh-CN without one
/// (`Accept-Language` is ignored on purpose: Chinese is the default).
impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(crate::auth::cookie_value(parts, LANG_COOKIE)
            .and_then(Lang::parse)
            .unwrap_or_default())
    }
}

pub fn lang_cookie(lang: Lang) -> String {
    // A preference, not a secret: one year, readable by the pages only.
    format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.code()
    )
}

pub struct Catalog {
    pub zh: HashMap<String, String>,
    pub en: HashMap<String, String>,
}

pub static CATALOG: LazyLock<Catalog> = LazyLock::new(|| Catalog {
    zh: parse(ZH).unwrap_or_else(|e| {
        tracing::error!(error = %e, "zh-CN catalog");
        HashMap::new()
    }),
    en: parse(EN).unwrap_or_else(|e| {
        tracing::error!(error = %e, "en catalog");
        HashMap::new()
    }),
});

/// Flattens `[section] key = "text"` into `section.key`.
pub fn parse(text: &str) -> Result<HashMap<String, String>, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    flatten("", &table, &mut out)?;
    Ok(out)
}

fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut HashMap<String, String>,
) -> Result<(), String> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => flatten(&key, t, out)?,
            _ => return Err(format!("{key}: messages must be strings")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn keys(text: &str) -> BTreeSet<String> {
        parse(text).expect("catalog parses").into_keys().collect()
    }

    #[test]
    fn both_languages_have_the_same_keys() {
        let zh = keys(ZH);
        let en = keys(EN);
        let only_zh: Vec<_> = zh.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&zh).collect();
        assert!(only_zh.is_empty(), "missing in en.toml: {only_zh:?}");
        assert!(only_en.is_empty(), "missing in zh-CN.toml: {only_en:?}");
    }

    /// Every key passed as a literal to `t` or `tf` in the templates and the page code.
    fn used_keys() -> BTreeSet<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        // Sub-folders too (the admin pages live in `src/pages/admin`).
        let mut files = Vec::new();
        let mut dirs: Vec<std::path::PathBuf> = ["templates", "src/pages"]
            .iter()
            .map(|d| root.join(d))
            .collect();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        let mut used = BTreeSet::new();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read file");
            for pat in ["t(\"", "tf(\""] {
                for (i, _) in text.match_indices(pat) {
                    // `t(` must be a call of its own, not the end of another name.
                    let before = text[..i].chars().last();
                    if pat == "t(\"" && before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        continue;
                    }
                    let rest = &text[i + pat.len()..];
                    if let Some(end) = rest.find('"') {
                        used.insert(rest[..end].to_string());
                    }
                }
            }
        }
        used
    }

    #[test]
    fn every_used_key_exists_in_both_languages() {
        let zh = keys(ZH);
        let en = keys(EN);
        let used = used_keys();
        assert!(used.len() > 50, "the scan found only {} keys", used.len());
        let missing: Vec<_> = used
            .iter()
            .filter(|k| !k.is_empty() && (!zh.contains(*k) || !en.contains(*k)))
            .collect();
        assert!(
            missing.is_empty(),
            "keys used but not in both catalogs: {missing:?}"
        );
    }

    #[test]
    fn placeholders_fill() {
        assert_eq!(Lang::En.tf("work.count", &[("n", "3")]), "3 in all");
        assert_eq!(Lang::Zh.tf("work.count", &[("n", "3")]), "共 3 件");
    }
}
