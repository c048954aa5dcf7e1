//! The Simple repository API: one project page model, parsed from an
//! upstream's HTML (PEP 503) or JSON (PEP 691) page, built from catalog rows,
//! and rendered in either format with yanked (PEP 592), core-metadata
//! (PEP 658/714), `requires-python`, hashes, and PEP 700's `versions`,
//! `size` and `upload-time`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

pub const JSON_V1: &str = "application/vnd.pypi.simple.v1+json";
pub const HTML_V1: &str = "application/vnd.pypi.simple.v1+html";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPage {
    pub name: String,
    pub versions: Vec<String>,
    pub files: Vec<DistFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFile {
    pub filename: String,
    /// Absolute URL (upstream pages: resolved against the page's URL).
    pub url: String,
    pub hashes: BTreeMap<String, String>,
    pub requires_python: Option<String>,
    /// `Some(reason)` when yanked (the reason may be empty).
    pub yanked: Option<String>,
    /// `Some(hashes)` when a `.metadata` file is served (hashes may be empty).
    pub core_metadata: Option<BTreeMap<String, String>>,
    pub size: Option<u64>,
    pub upload_time: Option<String>,
}

/// Which format to answer, from the `Accept` header (q-values honoured; HTML
/// when nothing better matches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
}

pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else { return Format::Html };
    let mut best = (Format::Html, -1.0f32);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q =
            parts.filter_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).next().unwrap_or(1.0);
        let format = match mime.as_str() {
            JSON_V1 | "application/vnd.pypi.simple.latest+json" => Format::Json,
            HTML_V1 | "application/vnd.pypi.simple.latest+html" | "text/html" | "*/*" => Format::Html,
            _ => continue,
        };
        if q > best.1 {
            best = (format, q);
        }
    }
    best.0
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn hash_attr(hashes: &BTreeMap<String, String>) -> Option<String> {
    hashes
        .get("sha256")
        .map(|h| format!("sha256={h}"))
        .or_else(|| hashes.iter().next().map(|(a, h)| format!("{a}={h}")))
}

impl ProjectPage {
    pub fn render_html(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n",
        );
        out.push_str(&format!(
            "    <title>Links for {}</title>\n  </head>\n  <body>\n    <h1>Links for {}</h1>\n",
            escape(&self.name),
            escape(&self.name)
        ));
        for f in &self.files {
            let mut href = f.url.clone();
            if let Some(h) = hash_attr(&f.hashes) {
                href = format!("{href}#{h}");
            }
            out.push_str(&format!("    <a href=\"{}\"", escape(&href)));
            if let Some(rp) = &f.requires_python {
                out.push_str(&format!(" data-requires-python=\"{}\"", escape(rp)));
            }
            if let Some(reason) = &f.yanked {
                out.push_str(&format!(" data-yanked=\"{}\"", escape(reason)));
            }
            if let Some(cm) = &f.core_metadata {
                let v = hash_attr(cm).unwrap_or_else(|| "true".into());
                out.push_str(&format!(
                    " data-core-metadata=\"{}\" data-dist-info-metadata=\"{}\"",
                    escape(&v),
                    escape(&v)
                ));
            }
            out.push_str(&format!(">{}</a><br/>\n", escape(&f.filename)));
        }
        out.push_str("  </body>\n</html>\n");
        out
    }

    pub fn render_json(&self) -> Value {
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|f| {
                let mut m = Map::new();
                m.insert("filename".into(), json!(f.filename));
                m.insert("url".into(), json!(f.url));
                m.insert("hashes".into(), json!(f.hashes));
                if let Some(rp) = &f.requires_python {
                    m.insert("requires-python".into(), json!(rp));
                }
                m.insert(
                    "yanked".into(),
                    match &f.yanked {
                        None => json!(false),
                        Some(r) if r.is_empty() => json!(true),
                        Some(r) => json!(r),
                    },
                );
                let cm = match &f.core_metadata {
                    None => json!(false),
                    Some(h) if h.is_empty() => json!(true),
                    Some(h) => json!(h),
                };
                m.insert("core-metadata".into(), cm.clone());
                m.insert("dist-info-metadata".into(), cm);
                if let Some(s) = f.size {
                    m.insert("size".into(), json!(s));
                }
                if let Some(t) = &f.upload_time {
                    m.insert("upload-time".into(), json!(t));
                }
                Value::Object(m)
            })
            .collect();
        json!({ "meta": { "api-version": "1.1" }, "name": self.name, "versions": self.versions, "files": files })
    }

    /// Parse an upstream page; `content_type` picks the format, `page_url`
    /// resolves relative links.
    pub fn parse(body: &[u8], content_type: Option<&str>, page_url: &str, name: &str) -> Result<ProjectPage, String> {
        let is_json = content_type.is_some_and(|c| c.contains("json")) || body.first() == Some(&b'{');
        let base = url::Url::parse(page_url).map_err(|e| format!("bad page URL {page_url}: {e}"))?;
        let mut page = if is_json { parse_json(body, &base)? } else { parse_html(body, &base)? };
        if page.name.is_empty() {
            page.name = name.to_string();
        }
        Ok(page)
    }
}

fn resolve(base: &url::Url, href: &str) -> Option<(String, Option<(String, String)>)> {
    let mut url = base.join(href).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let frag =
        url.fragment().and_then(|f| f.split_once('=')).map(|(a, h)| (a.to_ascii_lowercase(), h.to_ascii_lowercase()));
    url.set_fragment(None);
    Some((url.to_string(), frag))
}

fn filename_of(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let last = path.rsplit('/').next()?;
    let decoded = percent_encoding::percent_decode_str(last).decode_utf8().ok()?.into_owned();
    super::names::safe_filename(&decoded).then_some(decoded)
}

fn meta_attr(v: &str) -> Option<BTreeMap<String, String>> {
    if v.eq_ignore_ascii_case("true") {
        return Some(BTreeMap::new());
    }
    let (alg, h) = v.split_once('=')?;
    Some(BTreeMap::from([(alg.to_ascii_lowercase(), h.to_ascii_lowercase())]))
}

fn parse_html(body: &[u8], base: &url::Url) -> Result<ProjectPage, String> {
    let text = String::from_utf8_lossy(body);
    let doc = scraper::Html::parse_document(&text);
    let selector = scraper::Selector::parse("a[href]").map_err(|e| format!("selector: {e:?}"))?;
    let mut files = Vec::new();
    for a in doc.select(&selector) {
        let el = a.value();
        let Some(href) = el.attr("href") else { continue };
        let Some((url, frag)) = resolve(base, href) else { continue };
        let text: String = a.text().collect::<String>().trim().to_string();
        let filename = if super::names::safe_filename(&text) { Some(text) } else { filename_of(&url) };
        let Some(filename) = filename else { continue };
        let mut hashes = BTreeMap::new();
        if let Some((alg, h)) = frag {
            hashes.insert(alg, h);
        }
        let core_metadata =
            el.attr("data-core-metadata").or_else(|| el.attr("data-dist-info-metadata")).and_then(meta_attr);
        files.push(DistFile {
            filename,
            url,
            hashes,
            requires_python: el.attr("data-requires-python").map(str::to_string),
            yanked: el.attr("data-yanked").map(str::to_string),
            core_metadata,
            size: None,
            upload_time: None,
        });
    }
    Ok(ProjectPage { name: String::new(), versions: Vec::new(), files })
}

fn parse_json(body: &[u8], base: &url::Url) -> Result<ProjectPage, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("upstream page is not JSON: {e}"))?;
    let name = v.get("name").and_then(|n| n.as_str()).unwrap_or("").to_string();
    let versions = v
        .get("versions")
        .and_then(|x| x.as_array())
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let mut files = Vec::new();
    for f in v.get("files").and_then(|x| x.as_array()).cloned().unwrap_or_default() {
        let Some(href) = f.get("url").and_then(|u| u.as_str()) else { continue };
        let Some((url, frag)) = resolve(base, href) else { continue };
        let filename = match f.get("filename").and_then(|x| x.as_str()) {
            Some(n) if super::names::safe_filename(n) => n.to_string(),
            _ => match filename_of(&url) {
                Some(n) => n,
                None => continue,
            },
        };
        let mut hashes: BTreeMap<String, String> = f
            .get("hashes")
            .and_then(|h| h.as_object())
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.to_ascii_lowercase(), s.to_ascii_lowercase())))
                    .collect()
            })
            .unwrap_or_default();
        if let Some((alg, h)) = frag {
            hashes.entry(alg).or_insert(h);
        }
        let cm = f.get("core-metadata").or_else(|| f.get("dist-info-metadata"));
        let core_metadata = match cm {
            Some(Value::Bool(true)) => Some(BTreeMap::new()),
            Some(Value::Object(o)) => Some(
                o.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.to_ascii_lowercase(), s.to_ascii_lowercase())))
                    .collect(),
            ),
            _ => None,
        };
        let yanked = match f.get("yanked") {
            Some(Value::Bool(true)) => Some(String::new()),
            Some(Value::String(r)) => Some(r.clone()),
            _ => None,
        };
        files.push(DistFile {
            filename,
            url,
            hashes,
            requires_python: f.get("requires-python").and_then(|x| x.as_str()).map(str::to_string),
            yanked,
            core_metadata,
            size: f.get("size").and_then(|x| x.as_u64()),
            upload_time: f.get("upload-time").and_then(|x| x.as_str()).map(str::to_string),
        });
    }
    Ok(ProjectPage { name, versions, files })
}

/// The root index: every project name.
pub fn render_root_html(names: &[String]) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    <title>Simple index</title>\n  </head>\n  <body>\n",
    );
    for n in names {
        out.push_str(&format!("    <a href=\"{}/\">{}</a><br/>\n", escape(&super::names::normalize(n)), escape(n)));
    }
    out.push_str("  </body>\n</html>\n");
    out
}

pub fn render_root_json(names: &[String]) -> Value {
    let projects: Vec<Value> = names.iter().map(|n| json!({ "name": n })).collect();
    json!({ "meta": { "api-version": "1.1" }, "projects": projects })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        assert_eq!(negotiate(None), Format::Html);
        assert_eq!(negotiate(Some("text/html")), Format::Html);
        assert_eq!(
            negotiate(Some(
                "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
            )),
            Format::Json
        );
        assert_eq!(negotiate(Some("application/vnd.pypi.simple.v1+json; q=0.1, text/html")), Format::Html);
        assert_eq!(negotiate(Some("application/vnd.pypi.simple.latest+json")), Format::Json);
        assert_eq!(negotiate(Some("application/json")), Format::Html);
    }

    #[test]
    fn html_round_trip_and_relative_links() {
        let html = br#"<!DOCTYPE html><html><body>
            <a href="../../packages/ab/cd/demo-1.0.tar.gz#sha256=AAAA" data-requires-python="&gt;=3.8">demo-1.0.tar.gz</a>
            <a href="https://files.example/demo-1.0-py3-none-any.whl#sha256=bbbb" data-core-metadata="sha256=cccc" data-yanked="broken">demo-1.0-py3-none-any.whl</a>
            <a href="javascript:alert(1)">evil-1.0.tar.gz</a>
        </body></html>"#;
        let page = ProjectPage::parse(html, Some("text/html"), "https://pypi-upstream.example/simple/demo/", "demo")
            .expect("parsed");
        assert_eq!(page.files.len(), 2);
        assert_eq!(page.files[0].url, "https://pypi-upstream.example/packages/ab/cd/demo-1.0.tar.gz");
        assert_eq!(page.files[0].hashes["sha256"], "aaaa");
        assert_eq!(page.files[0].requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(page.files[1].yanked.as_deref(), Some("broken"));
        assert_eq!(page.files[1].core_metadata.as_ref().map(|m| m["sha256"].as_str()), Some("cccc"));
        let rendered = page.render_html();
        assert!(rendered.contains("data-requires-python=\"&gt;=3.8\""), "{rendered}");
        let again =
            ProjectPage::parse(rendered.as_bytes(), Some("text/html"), "https://me.example/simple/demo/", "demo")
                .expect("parsed");
        assert_eq!(again.files, page.files);
    }

    #[test]
    fn json_round_trip() {
        let body = br#"{"meta":{"api-version":"1.1"},"name":"demo","versions":["1.0"],"files":[
            {"filename":"demo-1.0.tar.gz","url":"/files/demo-1.0.tar.gz","hashes":{"sha256":"aa"},"yanked":true,"size":10,"upload-time":"2024-01-01T00:00:00Z","core-metadata":false}
        ]}"#;
        let page = ProjectPage::parse(body, Some(JSON_V1), "https://pypi-upstream.example/simple/demo/", "demo")
            .expect("parsed");
        assert_eq!(page.files[0].url, "https://pypi-upstream.example/files/demo-1.0.tar.gz");
        assert_eq!(page.files[0].yanked.as_deref(), Some(""));
        assert_eq!(page.files[0].size, Some(10));
        let json = page.render_json();
        assert_eq!(json["files"][0]["yanked"], true);
        assert_eq!(json["files"][0]["core-metadata"], false);
        assert_eq!(json["versions"][0], "1.0");
        let again =
            ProjectPage::parse(json.to_string().as_bytes(), Some(JSON_V1), "https://x.example/simple/demo/", "demo")
                .expect("parsed");
        assert_eq!(again.files, page.files);
    }
}
