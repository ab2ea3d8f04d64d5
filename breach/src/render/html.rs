//! HTML export: one self-contained page, everything escaped, no external resources and no
//! executable script (the receipt is carried as `application/json` data).

use super::{Block, blocks};
use crate::model::IncidentDocument;

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn text(s: &str) -> String {
    escape(s).replace('\n', "<br>\n")
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.45;color:#111}\
h1{font-size:1.5rem}h2{font-size:1.25rem;border-top:1px solid #bbb;padding-top:1rem;margin-top:2rem}h3{font-size:1.05rem}\
dl{margin:.3rem 0}dt{font-weight:600}dd{margin:0 0 .4rem 1rem}pre{background:#f4f4f4;padding:.75rem;overflow-x:auto;font-size:.8rem;white-space:pre-wrap;word-break:break-all}\
@media print{h2{page-break-before:always}}";

/// The incident as a self-contained HTML page.
pub fn render_html(doc: &IncidentDocument) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!(
        "<title>Personal data breach {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&doc.incident_id)
    ));
    for block in blocks(doc) {
        match block {
            Block::Title(t) => out.push_str(&format!("<h1>{}</h1>\n", text(&t))),
            Block::Heading(t) => out.push_str(&format!("<h2>{}</h2>\n", text(&t))),
            Block::Sub(t) => out.push_str(&format!("<h3>{}</h3>\n", text(&t))),
            Block::Para(t) => out.push_str(&format!("<p>{}</p>\n", text(&t))),
            Block::Field(k, v) => out.push_str(&format!("<dl><dt>{}</dt><dd>{}</dd></dl>\n", text(&k), text(&v))),
            Block::List(items) => {
                out.push_str("<ul>\n");
                for i in items {
                    out.push_str(&format!("<li>{}</li>\n", text(&i)));
                }
                out.push_str("</ul>\n");
            }
            Block::Pre(t) => out.push_str(&format!("<pre id=\"receipt\">{}</pre>\n", escape(&t))),
        }
    }
    // The receipt as data for tools: `<`, `>` and `&` only occur inside JSON strings, where
    // their \u escapes mean the same, so the element cannot be closed early.
    let json = doc
        .receipt
        .text()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    out.push_str(&format!(
        "<script type=\"application/json\" id=\"sealpost-receipt\">{json}</script>\n</body>\n</html>\n"
    ));
    out
}
