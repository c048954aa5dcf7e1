//! What BatleHub reads of XML from clients: a POM's coordinates (checked
//! against the path it is deployed to) and its packaging, and the
//! well-formedness of deployed `maven-metadata.xml` files. A document type
//! declaration is refused outright, so no external entity is ever resolved
//! and no entity is ever expanded.

use quick_xml::Reader;
use quick_xml::events::Event;

/// The largest POM or metadata file read.
pub const MAX_XML: usize = 4 << 20;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pom {
    pub group: Option<String>,
    pub artifact: Option<String>,
    pub version: Option<String>,
    pub packaging: Option<String>,
    pub parent_group: Option<String>,
    pub parent_version: Option<String>,
    pub name: Option<String>,
}

impl Pom {
    /// The groupId, inherited from the parent when not declared.
    pub fn effective_group(&self) -> Option<&str> {
        self.group.as_deref().or(self.parent_group.as_deref())
    }

    /// The version, inherited from the parent when not declared.
    pub fn effective_version(&self) -> Option<&str> {
        self.version.as_deref().or(self.parent_version.as_deref())
    }
}

/// Walk `xml`'s elements, calling `on_text(path, text)` for the text of
/// every element (`path` the element names from the root).
fn walk(xml: &[u8], mut on_text: impl FnMut(&[String], &str)) -> Result<(), String> {
    if xml.len() > MAX_XML {
        return Err(format!("the document is larger than {MAX_XML} bytes"));
    }
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().trim_text(false);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut buf = Vec::new();
    let mut roots = 0;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::DocType(_)) => return Err("document type declarations are not accepted".into()),
            Ok(Event::Start(e)) => {
                if path.is_empty() {
                    roots += 1;
                }
                if path.len() > 64 {
                    return Err("elements nested too deep".into());
                }
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                text.clear();
            }
            Ok(Event::End(_)) => {
                if !text.is_empty() {
                    on_text(&path, &text);
                    text.clear();
                }
                path.pop();
            }
            Ok(Event::Empty(_)) if path.is_empty() => roots += 1,
            Ok(Event::Text(t)) => {
                let chunk = t.decode().map_err(|e| format!("malformed XML: {e}"))?;
                if text.len() + chunk.len() > MAX_XML {
                    return Err("text too long".into());
                }
                text.push_str(&chunk);
            }
            // Only character references and the five predefined entities.
            Ok(Event::GeneralRef(r)) => text.push(crate::serve::untrusted::xml_reference(r.as_ref())?),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("malformed XML at byte {}: {e}", reader.buffer_position())),
        }
        buf.clear();
    }
    if !path.is_empty() {
        return Err("malformed XML: unclosed elements".into());
    }
    if roots != 1 {
        return Err("malformed XML: expected one root element".into());
    }
    Ok(())
}

/// Parse a POM.
pub fn parse_pom(xml: &[u8]) -> Result<Pom, String> {
    let mut pom = Pom::default();
    walk(xml, |path, text| {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        let slot = match p.as_slice() {
            ["project", "groupId"] => &mut pom.group,
            ["project", "artifactId"] => &mut pom.artifact,
            ["project", "version"] => &mut pom.version,
            ["project", "packaging"] => &mut pom.packaging,
            ["project", "name"] => &mut pom.name,
            ["project", "parent", "groupId"] => &mut pom.parent_group,
            ["project", "parent", "version"] => &mut pom.parent_version,
            _ => return,
        };
        *slot = Some(text.trim().to_string());
    })?;
    Ok(pom)
}

/// Check that deployed metadata is well-formed XML (it is then left for the
/// generated document).
pub fn check_metadata(xml: &[u8]) -> Result<(), String> {
    walk(xml, |_, _| {})
}

/// The goal prefix of a plugin, by Maven's naming conventions:
/// `foo-maven-plugin` and `maven-foo-plugin` are `foo`.
pub fn plugin_prefix(artifact: &str) -> String {
    if let Some(p) = artifact.strip_suffix("-maven-plugin") {
        return p.to_string();
    }
    if let Some(p) = artifact.strip_prefix("maven-").and_then(|a| a.strip_suffix("-plugin")) {
        return p.to_string();
    }
    artifact.strip_suffix("-plugin").unwrap_or(artifact).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poms_and_hostile_xml() {
        let pom = parse_pom(
            b"<?xml version=\"1.0\"?><project xmlns=\"urn:example:pom\"><modelVersion>4.0.0</modelVersion>\
              <parent><groupId>com.acme</groupId><artifactId>parent</artifactId><version>2.0</version></parent>\
              <artifactId>app</artifactId><packaging>maven-plugin</packaging><name>A &amp; B</name></project>",
        )
        .expect("pom");
        assert_eq!(pom.effective_group(), Some("com.acme"));
        assert_eq!(pom.effective_version(), Some("2.0"));
        assert_eq!(pom.artifact.as_deref(), Some("app"));
        assert_eq!(pom.packaging.as_deref(), Some("maven-plugin"));
        assert_eq!(pom.name.as_deref(), Some("A & B"));
        for hostile in [
            &b"<?xml version=\"1.0\"?><!DOCTYPE p [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><project>&x;</project>"[..],
            b"<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]><project>&lol2;</project>",
            b"<project><groupId>a</groupId>&undefined;</project>",
            b"<project><groupId>a</project>",
            b"<project></project><project></project>",
            b"not xml at all",
            b"",
        ] {
            assert!(parse_pom(hostile).is_err(), "{}", String::from_utf8_lossy(hostile));
        }
        assert!(check_metadata(b"<metadata><versioning/></metadata>").is_ok());
        assert_eq!(plugin_prefix("foo-maven-plugin"), "foo");
        assert_eq!(plugin_prefix("maven-deploy-plugin"), "deploy");
    }
}
