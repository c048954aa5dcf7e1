//! The body of `npm publish`: a packument with the tarball base64-encoded in
//! `_attachments.<file>.data`.
//!
//! The body is read as a stream: every member except the attachments is
//! collected as JSON (it is small), while each attachment's `data` string is
//! base64-decoded as it is read and written straight to a sink (a temporary
//! blob), so the tarball is never held whole in memory. Untrusted bytes: the
//! fuzz target `npm_publish` drives this parser.

use std::io::{Read, Write};

use base64::Engine;
use serde_json::{Map, Value};
use struson::reader::{JsonReader, JsonStreamReader, ReaderError};

/// One entry of `_attachments`.
#[derive(Debug)]
pub struct Attachment<W> {
    pub name: String,
    pub content_type: Option<String>,
    /// The length the client declares (npm sends the decoded size).
    pub length: Option<u64>,
    /// The decoded bytes' sink; `None` when the entry had no `data`.
    pub data: Option<W>,
}

#[derive(Debug)]
pub struct ParsedPublish<W> {
    /// Every top-level member but `_attachments`.
    pub doc: Map<String, Value>,
    pub attachments: Vec<Attachment<W>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("invalid publish body: {0}")]
    Invalid(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<ReaderError> for ParseError {
    fn from(e: ReaderError) -> Self {
        match e {
            ReaderError::IoError { error, .. } => ParseError::Io(error),
            other => ParseError::Invalid(other.to_string()),
        }
    }
}

/// The most bytes of a publish body outside the attachments' data (the
/// manifest, the readme, the tags): what is parsed into memory.
pub const MAX_DOCUMENT_BYTES: u64 = 8 * 1024 * 1024;

/// Counts what is read while `counting`, and fails the read once more than
/// `limit` bytes were counted: the members other than the attachments'
/// data are bounded before they are parsed into memory.
struct Budget<R> {
    inner: R,
    state: std::rc::Rc<BudgetState>,
}

struct BudgetState {
    counting: std::cell::Cell<bool>,
    used: std::cell::Cell<u64>,
    limit: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("the package document (everything but the attachments' data) exceeds {0} bytes")]
struct DocumentTooLarge(u64);

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let s = &self.state;
        if s.counting.get() {
            s.used.set(s.used.get().saturating_add(n as u64));
            if s.used.get() > s.limit {
                return Err(std::io::Error::other(DocumentTooLarge(s.limit)));
            }
        }
        Ok(n)
    }
}

/// Parse a publish body from `reader`. `open(name)` gives the sink for the
/// attachment called `name`; at most `max_attachments` are accepted, and
/// at most `max_document` bytes outside their data.
pub fn parse_publish<R: Read, W: Write>(
    reader: R,
    max_attachments: usize,
    max_document: u64,
    open: &mut dyn FnMut(&str) -> std::io::Result<W>,
) -> Result<ParsedPublish<W>, ParseError> {
    let state = std::rc::Rc::new(BudgetState {
        counting: std::cell::Cell::new(true),
        used: std::cell::Cell::new(0),
        limit: max_document,
    });
    parse_counted(Budget { inner: reader, state: state.clone() }, &state, max_attachments, open).map_err(|e| match e {
        ParseError::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<DocumentTooLarge>()) => {
            ParseError::Invalid(io.to_string())
        }
        other => other,
    })
}

fn parse_counted<R: Read, W: Write>(
    reader: Budget<R>,
    budget: &BudgetState,
    max_attachments: usize,
    open: &mut dyn FnMut(&str) -> std::io::Result<W>,
) -> Result<ParsedPublish<W>, ParseError> {
    let mut json = JsonStreamReader::new(reader);
    let mut doc = Map::new();
    let mut attachments: Vec<Attachment<W>> = Vec::new();
    let mut seen_attachments = false;
    if json.peek()? != struson::reader::ValueType::Object {
        return Err(ParseError::Invalid("the body must be a JSON object".into()));
    }
    json.begin_object()?;
    while json.has_next()? {
        let key = json.next_name_owned()?;
        if key == "_attachments" {
            if seen_attachments {
                return Err(ParseError::Invalid("duplicate `_attachments`".into()));
            }
            seen_attachments = true;
            if json.peek()? != struson::reader::ValueType::Object {
                return Err(ParseError::Invalid("`_attachments` must be an object".into()));
            }
            json.begin_object()?;
            while json.has_next()? {
                let name = json.next_name_owned()?;
                if attachments.len() >= max_attachments {
                    return Err(ParseError::Invalid(format!("more than {max_attachments} attachments")));
                }
                if attachments.iter().any(|a| a.name == name) {
                    return Err(ParseError::Invalid(format!("duplicate attachment `{name}`")));
                }
                budget.counting.set(false);
                let attachment = read_attachment(&mut json, name, open);
                budget.counting.set(true);
                attachments.push(attachment?);
            }
            json.end_object()?;
        } else {
            if doc.contains_key(&key) {
                return Err(ParseError::Invalid(format!("duplicate member `{key}`")));
            }
            let value: Value = json.deserialize_next().map_err(|e| match e {
                struson::serde::DeserializerError::ReaderError(re) => ParseError::from(re),
                other => ParseError::Invalid(other.to_string()),
            })?;
            doc.insert(key, value);
        }
    }
    json.end_object()?;
    json.consume_trailing_whitespace()?;
    Ok(ParsedPublish { doc, attachments })
}

fn read_attachment<R: Read, W: Write>(
    json: &mut JsonStreamReader<R>,
    name: String,
    open: &mut dyn FnMut(&str) -> std::io::Result<W>,
) -> Result<Attachment<W>, ParseError> {
    let mut att = Attachment { name, content_type: None, length: None, data: None };
    if json.peek()? != struson::reader::ValueType::Object {
        return Err(ParseError::Invalid(format!("attachment `{}` must be an object", att.name)));
    }
    json.begin_object()?;
    while json.has_next()? {
        let field = json.next_name_owned()?;
        match field.as_str() {
            "data" => {
                if att.data.is_some() {
                    return Err(ParseError::Invalid(format!("duplicate data in attachment `{}`", att.name)));
                }
                if json.peek()? != struson::reader::ValueType::String {
                    return Err(ParseError::Invalid(format!("data of attachment `{}` must be a string", att.name)));
                }
                let mut sink = open(&att.name)?;
                {
                    let string_reader = json.next_string_reader()?;
                    let mut decoder =
                        base64::read::DecoderReader::new(string_reader, &base64::engine::general_purpose::STANDARD);
                    std::io::copy(&mut decoder, &mut sink).map_err(|e| match e.kind() {
                        std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput => {
                            ParseError::Invalid(format!("data of attachment `{}` is not valid base64: {e}", att.name))
                        }
                        _ => ParseError::Io(e),
                    })?;
                }
                sink.flush()?;
                att.data = Some(sink);
            }
            "content_type" if json.peek()? == struson::reader::ValueType::String => {
                att.content_type = Some(json.next_string()?);
            }
            "length" if json.peek()? == struson::reader::ValueType::Number => {
                let n = json
                    .next_number::<u64>()?
                    .map_err(|_| ParseError::Invalid("attachment length is not a size".into()))?;
                att.length = Some(n);
            }
            _ => json.skip_value()?,
        }
    }
    json.end_object()?;
    Ok(att)
}

/// Convenience for tests and the fuzz target: parse into memory.
pub fn parse_in_memory(body: &[u8]) -> Result<ParsedPublish<Vec<u8>>, ParseError> {
    parse_publish(body, 8, MAX_DOCUMENT_BYTES, &mut |_name| Ok(Vec::new()))
}

/// Encode a tarball the way npm does (for tests and fixtures).
pub fn encode_attachment(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_publish() {
        let data = encode_attachment(b"tarball bytes");
        let body = format!(
            r#"{{"_id":"pkg","name":"pkg","versions":{{"1.0.0":{{"name":"pkg","version":"1.0.0"}}}},"_attachments":{{"pkg-1.0.0.tgz":{{"content_type":"application/octet-stream","data":"{data}","length":13}}}},"dist-tags":{{"latest":"1.0.0"}}}}"#
        );
        let parsed = parse_in_memory(body.as_bytes()).expect("valid");
        assert_eq!(parsed.doc["name"], "pkg");
        assert!(parsed.doc.contains_key("dist-tags"));
        assert!(!parsed.doc.contains_key("_attachments"));
        assert_eq!(parsed.attachments.len(), 1);
        let a = &parsed.attachments[0];
        assert_eq!(a.name, "pkg-1.0.0.tgz");
        assert_eq!(a.length, Some(13));
        assert_eq!(a.data.as_deref(), Some(&b"tarball bytes"[..]));
    }

    #[test]
    fn rejects_bad_bodies() {
        let cases: &[&str] = &[
            "",
            "[]",
            "{",
            "{\"name\":\"a\",\"name\":\"b\"}",
            "{\"_attachments\":[]}",
            "{\"_attachments\":{\"a\":{\"data\":\"!!!not base64\"}}}",
            "{\"_attachments\":{\"a\":{\"data\":1}}}",
            "{\"_attachments\":{\"a\":{\"data\":\"QQ==\",\"data\":\"QQ==\"}}}",
            "{\"_attachments\":{},\"_attachments\":{}}",
            "{} trailing",
            "{\"a\":1,}",
        ];
        for c in cases {
            assert!(parse_in_memory(c.as_bytes()).is_err(), "{c:?} should be rejected");
        }
        let many: String = (0..10).map(|i| format!("\"f{i}\":{{\"data\":\"\"}}")).collect::<Vec<_>>().join(",");
        assert!(parse_in_memory(format!("{{\"_attachments\":{{{many}}}}}").as_bytes()).is_err());
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn the_document_is_bounded_and_the_attachments_are_not_counted() {
        let big = "r".repeat(9 * 1024 * 1024);
        let body = format!(r#"{{"name":"x","readme":"{big}"}}"#);
        match parse_in_memory(body.as_bytes()) {
            Err(ParseError::Invalid(msg)) => assert!(msg.contains("exceeds"), "{msg}"),
            other => panic!("a 9 MiB readme was parsed: {:?}", other.map(|p| p.doc.len())),
        }
        // 12 MiB of attachment data (base64) beside a small document: fine.
        let data = encode_attachment(&vec![7u8; 9 * 1024 * 1024]);
        let body = format!(r#"{{"name":"x","_attachments":{{"x-1.0.0.tgz":{{"data":"{data}"}}}},"readme":"short"}}"#);
        let parsed = parse_in_memory(body.as_bytes()).expect("parsed");
        assert_eq!(parsed.attachments.len(), 1);
        assert_eq!(parsed.doc["readme"], "short");
    }
}
