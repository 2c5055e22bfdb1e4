//! Suggesting a first-level category from a request's text: a multinomial
//! naive Bayes over character unigrams and bigrams, trained at start-up on the
//! labelled demo messages plus the category names (so categories without
//! messages can still be suggested, if weakly). Small, deterministic, no I/O;
//! the dispatcher always confirms.

use std::collections::HashMap;

use crate::category::CategorySet;
use crate::demo::parse_csv;

const MESSAGES_CSV: &str = include_str!("../data/demo/messages.csv");
/// Additive smoothing.
const ALPHA: f64 = 0.1;
/// Texts are cut to this many characters, for speed on very long input.
const MAX_CHARS: usize = 4_000;

#[derive(Debug, Clone)]
struct Class {
    code: String,
    docs: u32,
    counts: HashMap<String, u32>,
    total: u64,
}

/// A trained model. Immutable once built.
#[derive(Debug, Clone)]
pub struct Suggester {
    classes: Vec<Class>,
    vocabulary: usize,
    docs: u32,
}

/// Character unigrams and bigrams of the letters and digits of `text`
/// (punctuation and spaces split runs; the exporter's `_x000D_` is dropped).
fn features(text: &str) -> Vec<String> {
    let text = text.replace("_x000D_", " ");
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    for c in text.chars().take(MAX_CHARS) {
        if c.is_alphanumeric() {
            let c = c.to_lowercase().next().unwrap_or(c);
            out.push(c.to_string());
            if let Some(p) = prev {
                out.push(format!("{p}{c}"));
            }
            prev = Some(c);
        } else {
            prev = None;
        }
    }
    out
}

impl Suggester {
    /// Trains on `(category code, text)` examples; each code is one class.
    /// The names of every category below each first-level category of
    /// `categories` are added as one more example of it.
    pub fn train(examples: &[(&str, &str)], categories: &CategorySet, roots_prefix: &str) -> Self {
        let mut classes: Vec<Class> = categories
            .roots()
            .into_iter()
            .filter(|c| c.code.starts_with(roots_prefix))
            .map(|c| Class {
                code: c.code.clone(),
                docs: 0,
                counts: HashMap::new(),
                total: 0,
            })
            .collect();
        let mut add = |code: &str, text: &str, doc: bool| {
            if let Some(class) = classes.iter_mut().find(|c| c.code == code) {
                for f in features(text) {
                    *class.counts.entry(f).or_default() += 1;
                    class.total += 1;
                }
                if doc {
                    class.docs += 1;
                }
            }
        };
        for (code, text) in examples {
            add(code, text, true);
        }
        for c in categories.iter() {
            let root = categories.path(&c.code).first().map(|r| r.code.clone());
            if let Some(root) = root {
                add(&root, &c.name.zh, false);
            }
        }
        let mut vocabulary: Vec<&String> = classes.iter().flat_map(|c| c.counts.keys()).collect();
        vocabulary.sort_unstable();
        vocabulary.dedup();
        let vocabulary = vocabulary.len();
        let docs = classes.iter().map(|c| c.docs).sum();
        Suggester {
            classes,
            vocabulary,
            docs,
        }
    }

    /// Trained on the shipped demo messages (first-level request categories).
    pub fn builtin(categories: &CategorySet) -> Self {
        let examples = labelled_messages(categories);
        let borrowed: Vec<(&str, &str)> = examples
            .iter()
            .map(|(c, t)| (c.as_str(), t.as_str()))
            .collect();
        Suggester::train(&borrowed, categories, "R")
    }

    /// First-level categories with their probability, best first (ties by
    /// code). Empty text gives the priors.
    pub fn suggest(&self, text: &str) -> Vec<(String, f64)> {
        let feats = features(text);
        let classes = self.classes.len().max(1) as f64;
        let mut scores: Vec<(String, f64)> = self
            .classes
            .iter()
            .map(|c| {
                // Classes known only by their names get a small prior of one doc.
                let prior = ((c.docs.max(1)) as f64).ln() - (self.docs as f64 + classes).ln();
                let denom = (c.total as f64 + ALPHA * self.vocabulary as f64).ln();
                let likelihood: f64 = feats
                    .iter()
                    .map(|f| {
                        (f64::from(c.counts.get(f).copied().unwrap_or(0)) + ALPHA).ln() - denom
                    })
                    .sum();
                (c.code.clone(), prior + likelihood)
            })
            .collect();
        // Softmax, stable.
        let max = scores.iter().map(|s| s.1).fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = scores.iter().map(|s| (s.1 - max).exp()).sum();
        for s in &mut scores {
            s.1 = (s.1 - max).exp() / sum;
        }
        scores.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        scores
    }
}

/// The demo messages as (first-level code, subject + detail), in file order.
/// Rows whose category name is not a first-level request category are skipped.
pub fn labelled_messages(categories: &CategorySet) -> Vec<(String, String)> {
    let Ok(rows) = parse_csv(MESSAGES_CSV) else {
        return Vec::new();
    };
    let roots = categories.roots();
    rows.iter()
        .skip(1)
        .filter_map(|r| {
            let (subject, detail, label) = (r.get(1)?, r.get(3)?, r.get(4)?);
            let code = roots
                .iter()
                .find(|c| c.code.starts_with('R') && c.name.zh == label.trim())?;
            Some((code.code.clone(), format!("{subject}\n{detail}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_demo_messages_are_labelled() {
        let cats = CategorySet::builtin();
        assert_eq!(labelled_messages(&cats).len(), 298);
    }

    #[test]
    fn held_out_accuracy() {
        let cats = CategorySet::builtin();
        let all = labelled_messages(&cats);
        // Every fifth message is held out.
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for (i, (code, text)) in all.iter().enumerate() {
            if i % 5 == 0 {
                test.push((code.as_str(), text.as_str()));
            } else {
                train.push((code.as_str(), text.as_str()));
            }
        }
        let model = Suggester::train(&train, &cats, "R");
        let right = test
            .iter()
            .filter(|(code, text)| model.suggest(text).first().is_some_and(|s| s.0 == *code))
            .count();
        let top3 = test
            .iter()
            .filter(|(code, text)| model.suggest(text).iter().take(3).any(|s| s.0 == *code))
            .count();
        let accuracy = right as f64 / test.len() as f64;
        let top3 = top3 as f64 / test.len() as f64;
        println!(
            "held-out: {} messages, top-1 {accuracy:.3}, top-3 {top3:.3}",
            test.len()
        );
        assert!(accuracy > 0.5, "top-1 accuracy {accuracy}");
    }

    #[test]
    fn suggestions_are_probabilities_over_request_roots() {
        let cats = CategorySet::builtin();
        let model = Suggester::builtin(&cats);
        let s = model.suggest("公司拖欠工资三个月，社保也没有缴纳");
        assert_eq!(s.len(), 15);
        assert_eq!(s[0].0, "R15");
        let total: f64 = s.iter().map(|x| x.1).sum();
        assert!((total - 1.0).abs() < 1e-9);
        assert_eq!(model.suggest("学校乱收费，补课费太高")[0].0, "R14");
        // Deterministic, and empty text still answers.
        assert_eq!(model.suggest("噪音"), model.suggest("噪音"));
        assert_eq!(model.suggest("").len(), 15);
    }
}
