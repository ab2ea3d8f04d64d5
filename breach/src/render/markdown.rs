//! Markdown export.

use super::{Block, blocks};
use crate::model::IncidentDocument;

/// Inline text with HTML and Markdown-active characters neutralised.
fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            // An underscore inside a word never starts emphasis (CommonMark), so `record_only`
            // stays readable.
            '_' if i > 0 && chars[i - 1].is_alphanumeric() && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric()) => {
                out.push(c)
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '\r' => {}
            '\n' => out.push_str("  \n"),
            _ => out.push(c),
        }
    }
    out
}

/// The incident as Markdown: the record, the draft notification, the draft letter(s) and the
/// receipt in a fenced JSON block.
pub fn render_markdown(doc: &IncidentDocument) -> String {
    let mut out = String::new();
    for block in blocks(doc) {
        match block {
            Block::Title(t) => out.push_str(&format!("# {}\n\n", inline(&t))),
            Block::Heading(t) => out.push_str(&format!("## {}\n\n", inline(&t))),
            Block::Sub(t) => out.push_str(&format!("### {}\n\n", inline(&t))),
            Block::Para(t) => out.push_str(&format!("{}\n\n", inline(&t))),
            Block::Field(k, v) if v.is_empty() => out.push_str(&format!("**{}:**\n\n", inline(&k))),
            Block::Field(k, v) => out.push_str(&format!("**{}:** {}\n\n", inline(&k), inline(&v))),
            Block::List(items) => {
                for i in items {
                    out.push_str(&format!("- {}\n", inline(&i).replace('\n', "\n  ")));
                }
                out.push('\n');
            }
            Block::Pre(t) => {
                let mut fence = "```".to_owned();
                while t.contains(&fence) {
                    fence.push('`');
                }
                out.push_str(&format!("{fence}json\n{}", t));
                if !t.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&format!("{fence}\n\n"));
            }
        }
    }
    out
}
