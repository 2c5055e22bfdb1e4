//! The category taxonomies and routing rules in force: the shipped files, the
//! city's extension files and the admin layer on top (edited on the admin
//! taxonomy page). Here, not with the pages, because `AppState` and intake
//! read them.

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use gongzhi_domain::category::CategorySet;
use gongzhi_domain::routing::RoutingRules;
use gongzhi_domain::suggest::Suggester;

/// One row of the admin's category file. An empty `name_zh` overrides an
/// existing category (English name, urgency, deadlines); a non-empty one adds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CategoryRow {
    pub code: String,
    #[serde(default)]
    pub name_zh: String,
    #[serde(default)]
    pub name_en: String,
    #[serde(default)]
    pub urgency: String,
    #[serde(default)]
    pub dispatch: String,
    #[serde(default)]
    pub handling: String,
}

/// One routing rule of the admin's file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleRow {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assist: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<NoteRow>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NoteRow {
    pub zh: String,
    pub en: String,
}

/// The admin layer: what the admin pages added or changed, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaxonomyLayer {
    pub categories: Vec<CategoryRow>,
    pub rules: Vec<RuleRow>,
}

#[derive(Serialize)]
struct RoutingFile<'a> {
    rule: &'a [RuleRow],
}

impl TaxonomyLayer {
    /// The layer as stored (two JSON texts).
    pub fn from_json(categories: &str, routing: &str) -> Result<TaxonomyLayer, String> {
        Ok(TaxonomyLayer {
            categories: serde_json::from_str(categories).map_err(|e| e.to_string())?,
            rules: serde_json::from_str(routing).map_err(|e| e.to_string())?,
        })
    }

    pub fn to_json(&self) -> Result<(String, String), String> {
        Ok((
            serde_json::to_string(&self.categories).map_err(|e| e.to_string())?,
            serde_json::to_string(&self.rules).map_err(|e| e.to_string())?,
        ))
    }

    /// The layer as extension files (`admin/categories.csv`, `admin/routing.toml`).
    pub fn files(&self) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        if !self.categories.is_empty() {
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer
                .write_record(gongzhi_domain::category::HEADER)
                .map_err(|e| e.to_string())?;
            for c in &self.categories {
                writer
                    .write_record([
                        &c.code,
                        &c.name_zh,
                        &c.name_en,
                        &c.urgency,
                        &c.dispatch,
                        &c.handling,
                    ])
                    .map_err(|e| e.to_string())?;
            }
            let bytes = writer.into_inner().map_err(|e| e.to_string())?;
            let text = String::from_utf8(bytes).map_err(|e| e.to_string())?;
            out.push(("admin/categories.csv".to_string(), text));
        }
        if !self.rules.is_empty() {
            let text =
                toml::to_string(&RoutingFile { rule: &self.rules }).map_err(|e| e.to_string())?;
            out.push(("admin/routing.toml".to_string(), text));
        }
        Ok(out)
    }
}

/// What intake needs to know about categories and routing.
pub struct Taxonomies {
    pub categories: CategorySet,
    pub routing: RoutingRules,
    pub suggester: Suggester,
    /// The city's extension files these were built from; the admin layer
    /// is rebuilt on top of them.
    pub extensions: Vec<(String, String)>,
    /// The admin revision in force (0: none yet) and its layer.
    pub revision: i64,
    pub layer: TaxonomyLayer,
}

impl Taxonomies {
    /// The shipped taxonomies and rules, with a city's extension files on top
    /// (`(file name, text)`; `.csv` files extend categories, `.toml` routing).
    pub fn load(extensions: &[(String, String)]) -> Result<Taxonomies, String> {
        Self::build(extensions, 0, TaxonomyLayer::default())
    }

    /// These taxonomies' extension files with an admin revision on top.
    pub fn with_layer(&self, revision: i64, layer: TaxonomyLayer) -> Result<Taxonomies, String> {
        Self::build(&self.extensions, revision, layer)
    }

    fn build(
        extensions: &[(String, String)],
        revision: i64,
        layer: TaxonomyLayer,
    ) -> Result<Taxonomies, String> {
        let mut files = extensions.to_vec();
        files.extend(layer.files()?);
        let csv: Vec<(&str, &str)> = files
            .iter()
            .filter(|(n, _)| n.ends_with(".csv"))
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        let toml: Vec<(&str, &str)> = files
            .iter()
            .filter(|(n, _)| n.ends_with(".toml"))
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        let categories = CategorySet::with_extensions(&csv).map_err(|e| e.to_string())?;
        let routing =
            RoutingRules::with_extensions(&toml, &categories).map_err(|e| e.to_string())?;
        let suggester = Suggester::builtin(&categories);
        Ok(Taxonomies {
            categories,
            routing,
            suggester,
            extensions: extensions.to_vec(),
            revision,
            layer,
        })
    }
}

/// The taxonomies in force, swapped whole when an admin saves a revision;
/// readers take an `Arc` snapshot and never wait on a writer for long.
#[derive(Clone)]
pub struct SharedTaxonomies(Arc<RwLock<Arc<Taxonomies>>>);

impl SharedTaxonomies {
    pub fn new(taxonomies: Taxonomies) -> Self {
        SharedTaxonomies(Arc::new(RwLock::new(Arc::new(taxonomies))))
    }

    pub fn get(&self) -> Arc<Taxonomies> {
        match self.0.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set(&self, taxonomies: Taxonomies) {
        let new = Arc::new(taxonomies);
        match self.0.write() {
            Ok(mut guard) => *guard = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_layer_writes_files_the_domain_loads() {
        let layer = TaxonomyLayer {
            categories: vec![CategoryRow {
                code: "R01.99".into(),
                name_zh: "测试, \"分类\"".into(),
                name_en: "Test".into(),
                ..Default::default()
            }],
            rules: vec![RuleRow {
                id: "admin_test".into(),
                category: Some("R01.99".into()),
                lead: Some("@street".into()),
                note: Some(NoteRow {
                    zh: "说明".into(),
                    en: "note".into(),
                }),
                ..Default::default()
            }],
        };
        let base = Taxonomies::load(&[]).expect("shipped files load");
        let next = base.with_layer(1, layer.clone()).expect("layer loads");
        assert_eq!(
            next.categories.get("R01.99").map(|c| c.name.zh.as_str()),
            Some("测试, \"分类\"")
        );
        assert!(next.routing.get("admin_test").is_some());
        let (c, r) = layer.to_json().expect("json");
        assert_eq!(TaxonomyLayer::from_json(&c, &r).expect("parse"), layer);
    }
}
