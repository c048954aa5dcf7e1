//! The `.gem` format: a tar holding `metadata.gz` (the gemspec as gzipped
//! YAML), `data.tar.gz` and `checksums.yaml.gz`.
//!
//! The gemspec is read safely: YAML events are turned into plain scalars,
//! lists and maps (Ruby object tags such as `!ruby/object:Gem::Version` are
//! ignored, nothing is ever instantiated), aliases are expanded under a
//! budget of nodes (so an alias bomb is refused), and the decompressed
//! metadata is bounded.

use std::io::Read;

use yaml_rust2::parser::{Event, Parser};

/// The largest decompressed gemspec.
pub const MAX_METADATA: u64 = 1 << 20;
/// The most YAML nodes, aliases expanded.
const MAX_NODES: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| matches!(k, Node::Scalar(s) if s == key)).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    fn size(&self) -> usize {
        match self {
            Node::Scalar(_) => 1,
            Node::Seq(v) => 1 + v.iter().map(Node::size).sum::<usize>(),
            Node::Map(v) => 1 + v.iter().map(|(k, x)| k.size() + x.size()).sum::<usize>(),
        }
    }
}

/// Parse one YAML document into a [`Node`].
pub fn parse_yaml(text: &str) -> Result<Node, String> {
    let mut parser = Parser::new_from_str(text);
    let mut anchors: std::collections::HashMap<usize, Node> = std::collections::HashMap::new();
    let mut budget = MAX_NODES;
    // A stack of containers being built: (anchor, node, pending map key).
    let mut stack: Vec<(usize, Node, Option<Node>)> = Vec::new();
    let mut root = None;
    loop {
        let (event, _) = parser.next_token().map_err(|e| format!("invalid YAML: {e}"))?;
        let done = match event {
            Event::StreamEnd => break,
            Event::Nothing | Event::StreamStart | Event::DocumentStart | Event::DocumentEnd => continue,
            Event::SequenceStart(anchor, _) => {
                stack.push((anchor, Node::Seq(Vec::new()), None));
                if stack.len() > 64 {
                    return Err("YAML nested too deep".into());
                }
                continue;
            }
            Event::MappingStart(anchor, _) => {
                stack.push((anchor, Node::Map(Vec::new()), None));
                if stack.len() > 64 {
                    return Err("YAML nested too deep".into());
                }
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (anchor, node, pending) = stack.pop().ok_or("unbalanced YAML")?;
                if pending.is_some() {
                    return Err("a YAML mapping key without a value".into());
                }
                if anchor > 0 {
                    anchors.insert(anchor, node.clone());
                }
                node
            }
            Event::Scalar(value, _, anchor, _) => {
                let node = Node::Scalar(value);
                if anchor > 0 {
                    anchors.insert(anchor, node.clone());
                }
                node
            }
            Event::Alias(id) => {
                let node = anchors.get(&id).cloned().ok_or("a YAML alias to nothing")?;
                let size = node.size();
                if size > budget {
                    return Err("YAML aliases expand beyond the allowed size".into());
                }
                budget -= size;
                node
            }
        };
        budget = budget.checked_sub(1).ok_or("YAML document too large")?;
        match stack.last_mut() {
            None => {
                if root.is_some() {
                    return Err("more than one YAML document".into());
                }
                root = Some(done);
            }
            Some((_, Node::Seq(items), _)) => items.push(done),
            Some((_, Node::Map(entries), pending)) => match pending.take() {
                None => *pending = Some(done),
                Some(key) => entries.push((key, done)),
            },
            Some((_, Node::Scalar(_), _)) => return Err("unbalanced YAML".into()),
        }
    }
    root.ok_or_else(|| "an empty YAML document".to_string())
}

/// What BatleHub keeps of a gemspec.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    pub name: String,
    pub version: String,
    pub platform: String,
    /// Runtime dependencies: (name, requirement such as `>= 1.0, < 2`).
    pub dependencies: Vec<(String, String)>,
    pub required_ruby_version: Option<String>,
    pub required_rubygems_version: Option<String>,
    pub summary: Option<String>,
    pub authors: Vec<String>,
    pub licenses: Vec<String>,
    /// This platform's gem was yanked (`gem yank --platform`).
    #[serde(default)]
    pub yanked: bool,
}

/// A `Gem::Requirement` node as `>= 1.0, < 2` (`None` for `>= 0`).
fn requirement(node: &Node) -> Option<String> {
    let Node::Seq(reqs) = node.get("requirements")? else { return None };
    let mut parts = Vec::new();
    for r in reqs {
        let Node::Seq(pair) = r else { continue };
        let (Some(op), Some(v)) = (pair.first().and_then(Node::str), pair.get(1).and_then(|v| v.get("version")).and_then(Node::str)) else {
            continue;
        };
        parts.push(format!("{op} {v}"));
    }
    let joined = parts.join(", ");
    (!joined.is_empty() && joined != ">= 0").then_some(joined)
}

/// The gemspec YAML's fields.
pub fn spec_of(yaml: &Node) -> Result<Spec, String> {
    let text = |k: &str| yaml.get(k).and_then(Node::str).map(str::to_string);
    let list = |k: &str| match yaml.get(k) {
        Some(Node::Seq(v)) => v.iter().filter_map(Node::str).map(str::to_string).collect(),
        Some(Node::Scalar(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    };
    let name = text("name").ok_or("the gemspec has no name")?;
    let version = yaml.get("version").and_then(|v| v.get("version")).and_then(Node::str).ok_or("the gemspec has no version")?.to_string();
    let platform = text("platform").filter(|p| !p.is_empty()).unwrap_or_else(|| "ruby".into());
    let mut dependencies = Vec::new();
    if let Some(Node::Seq(deps)) = yaml.get("dependencies") {
        for d in deps {
            let kind = d.get("type").and_then(Node::str).unwrap_or(":runtime");
            if kind.trim_start_matches(':') != "runtime" {
                continue;
            }
            let Some(dep) = d.get("name").and_then(Node::str) else { continue };
            let req = d.get("requirement").and_then(requirement).unwrap_or_else(|| ">= 0".into());
            dependencies.push((dep.to_string(), req));
        }
    }
    Ok(Spec {
        name,
        version,
        platform,
        dependencies,
        required_ruby_version: yaml.get("required_ruby_version").and_then(requirement),
        required_rubygems_version: yaml.get("required_rubygems_version").and_then(requirement),
        summary: text("summary"),
        authors: list("authors"),
        licenses: list("licenses"),
        yanked: false,
    })
}

/// Read the gemspec of a `.gem`.
pub fn read_gem<R: Read>(reader: R) -> Result<Spec, String> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| format!("not a gem (a tar archive): {e}"))?;
    let mut seen = 0;
    for entry in entries {
        seen += 1;
        if seen > 64 {
            return Err("the gem holds too many entries".into());
        }
        let entry = entry.map_err(|e| format!("unreadable gem entry: {e}"))?;
        let path = entry.path().map_err(|e| e.to_string())?.to_string_lossy().into_owned();
        if path != "metadata.gz" {
            continue;
        }
        let mut text = String::new();
        flate2::read::GzDecoder::new(entry.take(MAX_METADATA * 4))
            .take(MAX_METADATA + 1)
            .read_to_string(&mut text)
            .map_err(|e| format!("metadata.gz: {e}"))?;
        if text.len() as u64 > MAX_METADATA {
            return Err(format!("the gemspec is larger than {MAX_METADATA} bytes"));
        }
        return spec_of(&parse_yaml(&text)?);
    }
    Err("the gem has no metadata.gz".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const GEMSPEC: &str = "--- !ruby/object:Gem::Specification
name: hello
version: !ruby/object:Gem::Version
  version: 1.2.0
platform: ruby
authors:
- Alice
dependencies:
- !ruby/object:Gem::Dependency
  name: rack
  requirement: &1 !ruby/object:Gem::Requirement
    requirements:
    - - \">=\"
      - !ruby/object:Gem::Version
        version: '2.0'
    - - \"<\"
      - !ruby/object:Gem::Version
        version: '4'
  type: :runtime
  prerelease: false
  version_requirements: *1
- !ruby/object:Gem::Dependency
  name: rspec
  requirement: !ruby/object:Gem::Requirement
    requirements:
    - - \">=\"
      - !ruby/object:Gem::Version
        version: '0'
  type: :development
required_ruby_version: !ruby/object:Gem::Requirement
  requirements:
  - - \">=\"
    - !ruby/object:Gem::Version
      version: '3.0'
summary: Says hello
licenses:
- MIT
";

    #[test]
    fn a_gemspec() {
        let spec = spec_of(&parse_yaml(GEMSPEC).expect("yaml")).expect("spec");
        assert_eq!(spec.name, "hello");
        assert_eq!(spec.version, "1.2.0");
        assert_eq!(spec.platform, "ruby");
        assert_eq!(spec.dependencies, vec![("rack".to_string(), ">= 2.0, < 4".to_string())]);
        assert_eq!(spec.required_ruby_version.as_deref(), Some(">= 3.0"));
        assert_eq!(spec.licenses, ["MIT"]);
    }

    #[test]
    fn hostile_yaml_is_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            bomb.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = c;
        }
        assert!(parse_yaml(&bomb).expect_err("a bomb").contains("aliases"));
        assert!(parse_yaml("a: *nothing").is_err());
        assert!(parse_yaml("a: [unclosed").is_err());
        assert!(spec_of(&parse_yaml("name: x").expect("yaml")).is_err(), "no version");
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(parse_yaml(&deep).is_err());
    }
}
