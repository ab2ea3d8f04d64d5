//! PDF text through `pdf-extract` (on `lopdf`), fenced in.
//!
//! `pdf-extract` unwraps freely, so bad input can panic: it runs under `catch_unwind`, with the
//! panic message kept off stderr, and a panic is [`ExtractError::Malformed`]. Some inputs would do
//! worse than panic (an overflowed stack or an exhausted memory abort the process, which nothing
//! can catch), so the file is checked for those first: every Flate stream's decompressed size (a
//! "zip bomb"), cycles in the page tree, and form XObjects that draw themselves or nest too deep.
//! Where panics abort (`wasm32-unknown-unknown`), PDFs are not read at all.

use super::{ExtractError, Limits};

/// The text of a PDF and whether it was cut; `None` where PDFs cannot be read safely.
pub(super) fn extract(bytes: &[u8], limits: &Limits) -> Result<Option<(String, bool)>, ExtractError> {
    #[cfg(panic = "unwind")]
    return fenced::extract(bytes, limits).map(Some);
    #[cfg(not(panic = "unwind"))]
    {
        let _ = (bytes, limits);
        Ok(None)
    }
}

/// A PDF whose trailer (or cross-reference stream) names an `/Encrypt` dictionary.
#[cfg_attr(not(panic = "unwind"), allow(dead_code))]
pub(super) fn declares_encryption(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, b"/Encrypt").is_some()
}

#[cfg(panic = "unwind")]
mod fenced {
    use std::cell::Cell;
    use std::collections::{HashMap, HashSet};
    use std::io::Read;
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::Once;

    use lopdf::content::Content;
    use lopdf::{Dictionary, Document, Object, ObjectId};
    use pdf_extract::{MediaBox, OutputDev, OutputError, Transform};

    use super::super::{ExtractError, Limits};

    const DAMAGED: &str = "the PDF structure could not be read";

    pub(super) fn extract(bytes: &[u8], limits: &Limits) -> Result<(String, bool), ExtractError> {
        check_stream_sizes(bytes, limits)?;
        let doc = match quietly(|| Document::load_mem(bytes)) {
            Some(Ok(doc)) => doc,
            Some(Err(lopdf::Error::InvalidPassword | lopdf::Error::Decryption(_))) => {
                return Err(ExtractError::Encrypted);
            }
            _ if super::declares_encryption(bytes) => return Err(ExtractError::Encrypted),
            _ => return Err(ExtractError::malformed(DAMAGED)),
        };
        // lopdf opens a PDF whose user password is empty (owner restrictions only); any other
        // encrypted PDF is left encrypted.
        if doc.is_encrypted() && doc.authenticate_password("").is_err() {
            return Err(ExtractError::Encrypted);
        }
        check_structure(&doc).map_err(ExtractError::malformed)?;
        let mut sink = Sink::new(limits.max_text);
        match quietly(|| pdf_extract::output_doc(&doc, &mut sink)) {
            Some(Ok(())) => {}
            Some(Err(_)) if sink.full => {}
            Some(Err(_)) => return Err(ExtractError::malformed("the PDF content could not be read")),
            None => return Err(ExtractError::malformed("the PDF content could not be read")),
        }
        let mut text = sink.out;
        while text.ends_with(['\n', ' ']) {
            text.pop();
        }
        Ok((text, sink.full))
    }

    thread_local! {
        static QUIET: Cell<bool> = const { Cell::new(false) };
    }
    static HOOK: Once = Once::new();

    /// Runs `f`, turning a panic into `None` without the panic message reaching stderr (the
    /// message might quote the document). The hook installed for this passes every other panic
    /// to the hook that was in place before.
    fn quietly<T>(f: impl FnOnce() -> T) -> Option<T> {
        HOOK.call_once(|| {
            let previous = panic::take_hook();
            panic::set_hook(Box::new(move |info| {
                if !QUIET.with(Cell::get) {
                    previous(info);
                }
            }));
        });
        let was = QUIET.with(|q| q.replace(true));
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        QUIET.with(|q| q.set(was));
        result.ok()
    }

    /// Inflates every stream that starts like a zlib (or raw deflate) stream into a counter, and
    /// fails if one of them, or all together, would pass the limits. lopdf inflates without bound.
    fn check_stream_sizes(bytes: &[u8], limits: &Limits) -> Result<(), ExtractError> {
        let mut total: u64 = 0;
        let mut scratch = vec![0u8; 64 * 1024];
        for at in memchr::memmem::find_iter(bytes, b"stream") {
            if at >= 3 && &bytes[at - 3..at] == b"end" {
                continue;
            }
            let mut start = at + b"stream".len();
            match bytes.get(start..start + 2) {
                Some([b'\r', b'\n']) => start += 2,
                Some([b'\n' | b'\r', _]) => start += 1,
                _ => continue,
            }
            let data = &bytes[start..];
            let limit = limits.max_entry.min(limits.max_total() - total);
            let zlib_header =
                data.len() >= 2 && data[0] & 0x0F == 8 && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
            let size = if zlib_header {
                inflated_size(flate2::read::ZlibDecoder::new(data), limit, &mut scratch)
            } else {
                // lopdf retries a stream with a bad zlib header as raw deflate.
                inflated_size(
                    flate2::read::DeflateDecoder::new(data.get(2..).unwrap_or_default()),
                    limit,
                    &mut scratch,
                )
            };
            if size > limit {
                return Err(ExtractError::TooLarge);
            }
            total += size;
        }
        Ok(())
    }

    /// How many bytes `decoder` gives before it ends or fails, counting to just past `limit`.
    fn inflated_size(mut decoder: impl Read, limit: u64, scratch: &mut [u8]) -> u64 {
        let mut n: u64 = 0;
        while n <= limit {
            match decoder.read(scratch) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k as u64,
            }
        }
        n
    }

    /// Refuses what would make pdf-extract recurse without end (its stack overflow would abort):
    /// a page whose `/Parent` chain loops, and form XObjects that draw themselves, nest deeper
    /// than 32 or are drawn more than 10,000 times in all.
    fn check_structure(doc: &Document) -> Result<(), &'static str> {
        let mut forms = Forms {
            doc,
            names: HashMap::new(),
            visits: 0,
        };
        let empty = Dictionary::new();
        for page in doc.page_iter() {
            let mut seen = HashSet::new();
            let mut id = page;
            let mut resources = None;
            loop {
                if !seen.insert(id) || seen.len() > 64 {
                    return Err("the PDF page tree loops");
                }
                let Ok(dict) = doc.get_dictionary(id) else { break };
                if resources.is_none() {
                    resources = dict.get(b"Resources").ok().and_then(|r| deref_dict(doc, r));
                }
                match dict.get(b"Parent").and_then(Object::as_reference) {
                    Ok(parent) => id = parent,
                    Err(_) => break,
                }
            }
            let resources = resources.unwrap_or(&empty);
            for target in xobjects(doc, resources).into_iter().flatten() {
                forms.visit(target, resources, &mut Vec::new())?;
            }
        }
        Ok(())
    }

    fn deref_dict<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Dictionary> {
        doc.dereference(o).ok()?.1.as_dict().ok()
    }

    /// The objects named in a resource dictionary's `/XObject`.
    fn xobjects<'a>(doc: &'a Document, resources: &'a Dictionary) -> Option<impl Iterator<Item = ObjectId> + 'a> {
        let dict = deref_dict(doc, resources.get(b"XObject").ok()?)?;
        Some(dict.iter().filter_map(|(_, v)| v.as_reference().ok()))
    }

    struct Forms<'a> {
        doc: &'a Document,
        /// The names each XObject's content draws with `Do`.
        names: HashMap<ObjectId, Vec<Vec<u8>>>,
        visits: usize,
    }

    impl<'a> Forms<'a> {
        fn visit(
            &mut self,
            id: ObjectId,
            inherited: &'a Dictionary,
            path: &mut Vec<ObjectId>,
        ) -> Result<(), &'static str> {
            if path.contains(&id) {
                return Err("a PDF drawing contains itself");
            }
            if path.len() >= 32 {
                return Err("PDF drawings are nested too deeply");
            }
            self.visits += 1;
            if self.visits > 10_000 {
                return Err("the PDF draws too many nested drawings");
            }
            let Ok(stream) = self.doc.get_object(id).and_then(Object::as_stream) else {
                return Ok(());
            };
            let resources = stream
                .dict
                .get(b"Resources")
                .ok()
                .and_then(|r| deref_dict(self.doc, r))
                .unwrap_or(inherited);
            let names = self
                .names
                .entry(id)
                .or_insert_with(|| {
                    let content = match stream.filters() {
                        Ok(_) => stream.decompressed_content().unwrap_or_else(|_| stream.content.clone()),
                        Err(_) => stream.content.clone(),
                    };
                    let ops = quietly(|| Content::decode(&content).ok()).flatten();
                    ops.map(|c| {
                        c.operations
                            .into_iter()
                            .filter(|op| op.operator == "Do")
                            .filter_map(|op| op.operands.first()?.as_name().ok().map(<[u8]>::to_vec))
                            .collect()
                    })
                    .unwrap_or_default()
                })
                .clone();
            if names.is_empty() {
                return Ok(());
            }
            let Some(table) = resources.get(b"XObject").ok().and_then(|x| deref_dict(self.doc, x)) else {
                return Ok(());
            };
            path.push(id);
            for name in names {
                if let Ok(target) = table.get(&name).and_then(Object::as_reference) {
                    self.visit(target, resources, path)?;
                }
            }
            path.pop();
            Ok(())
        }
    }

    /// pdf-extract's plain-text layout (a space for a gap, a line break for a new line), into a
    /// string bounded by `max_text`; a page ends with a line break.
    struct Sink {
        out: String,
        max_text: usize,
        full: bool,
        page_height: f64,
        last_end: f64,
        last_y: f64,
        first_char: bool,
    }

    impl Sink {
        fn new(max_text: usize) -> Self {
            Sink {
                out: String::new(),
                max_text,
                full: false,
                page_height: 0.,
                last_end: 1e5,
                last_y: 0.,
                first_char: false,
            }
        }

        fn push(&mut self, s: &str) -> Result<(), OutputError> {
            self.out.push_str(s);
            if self.out.len() > self.max_text {
                super::super::truncate(&mut self.out, self.max_text);
                self.full = true;
                return Err(OutputError::FormatError(std::fmt::Error));
            }
            Ok(())
        }
    }

    impl OutputDev for Sink {
        fn begin_page(
            &mut self,
            _: u32,
            media_box: &MediaBox,
            _: Option<(f64, f64, f64, f64)>,
        ) -> Result<(), OutputError> {
            self.page_height = media_box.ury - media_box.lly;
            self.last_end = 1e5;
            self.last_y = 0.;
            Ok(())
        }

        fn end_page(&mut self) -> Result<(), OutputError> {
            if !self.out.is_empty() && !self.out.ends_with('\n') {
                self.push("\n")?;
            }
            Ok(())
        }

        fn output_character(
            &mut self,
            trm: &Transform,
            width: f64,
            _: f64,
            font_size: f64,
            c: &str,
        ) -> Result<(), OutputError> {
            // The position with the y axis flipped to run down the page, and the font size as the
            // side of a square of the transformed glyph box's area.
            let (x, y) = (trm.m31, self.page_height - trm.m32);
            let (w, h) = (font_size * (trm.m11 + trm.m21), font_size * (trm.m12 + trm.m22));
            let size = (w * h).abs().sqrt();
            if self.first_char && !self.out.is_empty() && !self.out.ends_with('\n') {
                let dy = (y - self.last_y).abs();
                if dy > size * 1.5 || (x < self.last_end && dy > size * 0.5) {
                    self.push("\n")?;
                } else if x > self.last_end + size * 0.1 {
                    self.push(" ")?;
                }
            }
            self.push(c)?;
            self.first_char = false;
            self.last_y = y;
            self.last_end = x + width * size;
            Ok(())
        }

        fn begin_word(&mut self) -> Result<(), OutputError> {
            self.first_char = true;
            Ok(())
        }

        fn end_word(&mut self) -> Result<(), OutputError> {
            Ok(())
        }

        fn end_line(&mut self) -> Result<(), OutputError> {
            Ok(())
        }
    }
}
