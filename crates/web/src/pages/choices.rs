//! Options the pages offer in their selects: a value with its label, and
//! the category taxonomy grouped by first level.

use super::Lang;
use crate::state::AppState;

pub struct CategoryGroup {
    pub name: String,
    pub options: Vec<Choice>,
}

#[derive(Clone)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

/// The taxonomy as option groups, one per first-level category.
pub fn category_groups(state: &AppState, lang: Lang) -> Vec<CategoryGroup> {
    let tax = state.taxonomies();
    let cats = &tax.categories;
    let mut groups: Vec<CategoryGroup> = Vec::new();
    let mut all: Vec<_> = cats.iter().collect();
    all.sort_by(|a, b| a.code.cmp(&b.code));
    for c in all {
        let label = format!(
            "{}{} {}",
            "· ".repeat(c.level.saturating_sub(1)),
            c.code,
            lang.pick(&c.name.zh, &c.name.en)
        );
        if c.level <= 1 {
            groups.push(CategoryGroup {
                name: lang.pick(&c.name.zh, &c.name.en).to_string(),
                options: Vec::new(),
            });
        }
        if let Some(g) = groups.last_mut() {
            g.options.push(Choice {
                value: c.code.clone(),
                label,
            });
        }
    }
    groups
}
