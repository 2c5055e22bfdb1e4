//! One document tree, two renderings: JSON and the XML the GeoReport v2 spec
//! shows. Element order is kept as built, since XML readers may expect the
//! spec's order.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// The response format, from the `.json` / `.xml` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    pub fn parse(ext: &str) -> Option<Format> {
        match ext {
            "json" => Some(Format::Json),
            "xml" => Some(Format::Xml),
            _ => None,
        }
    }
}

/// A document node.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Absent: JSON `null`, an empty XML element.
    Null,
    Text(String),
    Int(i64),
    Num(f64),
    Bool(bool),
    /// Named children in order.
    Obj(Vec<(&'static str, Node)>),
    /// Repeated items; in XML each is an element named by the first member.
    List(&'static str, Vec<Node>),
}

impl Node {
    pub fn text(s: impl Into<String>) -> Node {
        Node::Text(s.into())
    }

    pub fn opt_text(s: Option<impl Into<String>>) -> Node {
        s.map(|s| Node::Text(s.into())).unwrap_or(Node::Null)
    }

    pub fn to_json(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Text(s) => Value::String(s.clone()),
            Node::Int(n) => Value::from(*n),
            Node::Num(n) => serde_json::Number::from_f64(*n)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Node::Bool(b) => Value::Bool(*b),
            Node::Obj(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect::<Map<_, _>>(),
            ),
            Node::List(_, items) => Value::Array(items.iter().map(Node::to_json).collect()),
        }
    }

    fn write_xml(&self, name: &str, out: &mut String) {
        out.push('<');
        out.push_str(name);
        out.push('>');
        match self {
            Node::Null => {}
            Node::Text(s) => escape_into(s, out),
            Node::Int(n) => out.push_str(&n.to_string()),
            Node::Num(n) => out.push_str(&n.to_string()),
            Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Node::Obj(members) => {
                for (k, v) in members {
                    v.write_xml(k, out);
                }
            }
            Node::List(item, items) => {
                for v in items {
                    v.write_xml(item, out);
                }
            }
        }
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }

    /// The document as XML with `root` as the root element.
    pub fn to_xml(&self, root: &str) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
        self.write_xml(root, &mut out);
        out
    }
}

/// Escapes text for element content and drops characters XML 1.0 cannot
/// carry at all (most C0 controls), so any stored text yields a well-formed
/// document.
pub fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

/// A response in the asked format; `root` names the XML root element.
pub fn respond(format: Format, status: StatusCode, root: &str, doc: &Node) -> Response {
    let (body, content_type) = match format {
        Format::Json => (doc.to_json().to_string(), "application/json; charset=utf-8"),
        Format::Xml => (doc.to_xml(root), "text/xml; charset=utf-8"),
    };
    let mut res = (status, body).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// The spec's error document: a list of `{code, description}`.
pub fn error(format: Format, status: StatusCode, description: impl Into<String>) -> Response {
    let doc = Node::List(
        "error",
        vec![Node::Obj(vec![
            ("code", Node::Int(i64::from(status.as_u16()))),
            ("description", Node::text(description)),
        ])],
    );
    respond(format, status, "errors", &doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_escaped_and_ordered() {
        let doc = Node::List(
            "service",
            vec![Node::Obj(vec![
                ("service_code", Node::text("R01")),
                ("service_name", Node::text("a<b & \"c\"\u{1}")),
                ("metadata", Node::Bool(true)),
                ("group", Node::Null),
            ])],
        );
        assert_eq!(
            doc.to_xml("services"),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><services><service><service_code>R01</service_code>\
             <service_name>a&lt;b &amp; &quot;c&quot;</service_name><metadata>true</metadata><group></group>\
             </service></services>"
        );
        assert_eq!(
            doc.to_json(),
            serde_json::json!([{"service_code": "R01", "service_name": "a<b & \"c\"\u{1}", "metadata": true, "group": null}])
        );
    }

    #[test]
    fn errors_follow_the_spec() {
        let doc = Node::List(
            "error",
            vec![Node::Obj(vec![
                ("code", Node::Int(404)),
                ("description", Node::text("x")),
            ])],
        );
        assert_eq!(
            doc.to_xml("errors"),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><errors><error><code>404</code><description>x</description></error></errors>"
        );
    }
}
