//! Parsing: TOML with spans, `${ENV}` interpolation, every error collected
//! with its line and column.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::EcosystemRules;
use super::types::*;
use super::validate::{Sections, validate};

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
    }
}

/// Every problem found in a configuration file.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

pub(super) struct Collector<'a> {
    pub(super) text: &'a str,
    errors: Vec<ConfigError>,
}

impl Collector<'_> {
    pub(super) fn push(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.map(|s| s.start).unwrap_or(0));
        self.errors.push(ConfigError { line, column, message: message.into() });
    }

    fn de_error(&mut self, context: &str, err: toml::de::Error) {
        let message = err.message().trim().to_string();
        let message = if context.is_empty() { message } else { format!("{context}: {message}") };
        self.push(err.span(), message);
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, column)
}

impl Config {
    /// The embedded default configuration.
    pub fn embedded_default(rules: &dyn EcosystemRules) -> Result<Config, ConfigErrors> {
        Config::parse(EMBEDDED_DEFAULT, rules)
    }

    /// Parse and validate `text`, reading `${VAR}` from the process
    /// environment; `rules` are the ecosystems' (`ecosystems::Rules`).
    pub fn parse(text: &str, rules: &dyn EcosystemRules) -> Result<Config, ConfigErrors> {
        Config::parse_with_env(text, &|name| std::env::var(name).ok(), rules)
    }

    pub fn parse_with_env(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        rules: &dyn EcosystemRules,
    ) -> Result<Config, ConfigErrors> {
        let mut c = Collector { text, errors: Vec::new() };
        let (mut root, syntax) = DeTable::parse_recoverable(text);
        if !syntax.is_empty() {
            for e in syntax {
                c.de_error("", e);
            }
            return Err(ConfigErrors(c.errors));
        }
        root.get_mut().make_owned();
        interpolate_table(root.get_mut(), env, &mut c);

        let mut server = ServerConfig::default();
        let mut database = DatabaseConfig::default();
        let mut storage = StorageConfig::default();
        let mut limits = LimitsConfig::default();
        let mut log = LogConfig::default();
        let mut auth = Vec::new();
        let mut registries: Vec<(RegistrySpans, RegistryConfig)> = Vec::new();
        let mut broken: Vec<String> = Vec::new();
        let mut top_keys: std::collections::HashMap<String, std::collections::HashMap<String, Range<usize>>> =
            Default::default();

        for (key, value) in root.into_inner() {
            let key_span = key.span();
            let key_name = key.into_inner().into_owned();
            let mut spans = key_spans(&value);
            spans.insert(String::new(), key_span.clone());
            top_keys.insert(key_name.clone(), spans);
            match key_name.as_str() {
                "server" => section(&mut c, "[server]", value, &mut server),
                "database" => section(&mut c, "[database]", value, &mut database),
                "storage" => section(&mut c, "[storage]", value, &mut storage),
                "limits" => section(&mut c, "[limits]", value, &mut limits),
                "log" => section(&mut c, "[log]", value, &mut log),
                "auth" => {
                    for (span, entry) in array_items(&mut c, "[[auth]]", value) {
                        match AuthConfig::deserialize(ValueDeserializer::from(entry)) {
                            Ok(a) => auth.push(a),
                            Err(mut e) => {
                                if e.span().is_none() {
                                    c.push(Some(span), format!("[[auth]]: {}", e.message().trim()));
                                } else {
                                    e.set_input(None);
                                    c.de_error("[[auth]]", e);
                                }
                            }
                        }
                    }
                }
                "registries" => {
                    for (span, entry) in array_items(&mut c, "[[registries]]", value) {
                        let keys = key_spans(&entry);
                        let name = match entry.get_ref() {
                            DeValue::Table(t) => t.get("name").and_then(|n| match n.get_ref() {
                                DeValue::String(s) => Some(s.to_string()),
                                _ => None,
                            }),
                            _ => None,
                        };
                        let context = match &name {
                            Some(n) => format!("registry `{n}`"),
                            None => "[[registries]]".to_string(),
                        };
                        // An entry with a bad key is still known by its name:
                        // other registries naming it as a member are not
                        // reported again.
                        let before = c.errors.len();
                        match deserialize_all::<RegistryConfig>(&mut c, &context, entry) {
                            Some(r) if c.errors.len() == before => registries.push((RegistrySpans { table: span, keys }, r)),
                            _ => broken.extend(name),
                        }
                    }
                }
                other => c.push(
                    Some(key_span),
                    format!(
                        "unknown key `{other}`, expected one of `server`, `database`, `storage`, `auth`, `registries`, `limits`, `log`"
                    ),
                ),
            }
        }

        // Namespace prefixes are kept in their ecosystem's canonical spelling.
        for (spans, r) in &mut registries {
            r.version_order = rules.version_order(r.kind);
            if !r.rules.is_empty() {
                let (kind, name) = (r.kind, r.name.clone());
                let syntax = rules.rule_syntax(kind);
                if syntax.is_none() {
                    c.push(
                        Some(spans.key("rules")),
                        format!("registry `{name}`: rules are not applied on registries of type `{kind}` yet"),
                    );
                } else if !r.mode.has_upstream()
                    && r.rules.iter().any(|t| t.get("local").and_then(|v| v.as_bool()) != Some(true))
                {
                    c.push(
                        Some(spans.key("rules")),
                        format!("registry `{name}`: a local registry has no upstream versions; its rules judge its own packages only with `local = true`"),
                    );
                } else if let Some(syntax) = syntax {
                    let parsed = crate::rules::RuleSet::parse(&r.rules, &syntax);
                    match parsed {
                        Ok(set) => r.rule_set = std::sync::Arc::new(set),
                        Err(errors) => {
                            for e in errors {
                                c.push(Some(spans.key("rules")), format!("registry `{name}`: {e}"));
                            }
                        }
                    }
                }
            }
            for ns in &mut r.namespaces {
                match rules.normalize_prefix(r.kind, &ns.prefix) {
                    Ok(p) => ns.prefix = p,
                    Err(msg) => c.push(Some(spans.key("namespaces")), format!("registry `{}`: {msg}", r.name)),
                }
            }
            for name in &mut r.allow_upstream_names {
                match rules.normalize_name(r.kind, name) {
                    Some(key) => *name = key,
                    None => c.push(
                        Some(spans.key("allow_upstream_names")),
                        format!("registry `{}`: allow_upstream_names: `{name}` is not a valid {} name", r.name, r.kind),
                    ),
                }
            }
        }
        let sections = Sections {
            server: &server,
            storage: &storage,
            database: &database,
            limits: &limits,
            auth: &auth,
            registries: &registries,
            broken: &broken,
            top: &top_keys,
        };
        validate(&mut c, rules, &sections);
        if !c.errors.is_empty() {
            c.errors.sort_by_key(|e| (e.line, e.column));
            return Err(ConfigErrors(c.errors));
        }
        Ok(Config {
            server,
            database,
            storage,
            auth,
            registries: registries.into_iter().map(|(_, r)| r).collect(),
            limits,
            log,
        })
    }

    pub fn registry(&self, name: &str) -> Option<&RegistryConfig> {
        self.registries.iter().find(|r| r.name == name)
    }
}

fn section<T: for<'de> Deserialize<'de>>(c: &mut Collector<'_>, name: &str, value: Spanned<DeValue<'_>>, out: &mut T) {
    if let Some(v) = deserialize_all(c, name, value) {
        *out = v;
    }
}

/// Deserialize a table, reporting every bad key and not only the first: the
/// key an error points at is reported and left out, and the table is tried
/// again (what remains takes its defaults). `None` when an error points at
/// no key of the table (a missing required key, say).
fn deserialize_all<T: for<'de> Deserialize<'de>>(
    c: &mut Collector<'_>,
    name: &str,
    mut value: Spanned<DeValue<'_>>,
) -> Option<T> {
    loop {
        let err = match T::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let culprit = err.span().and_then(|at| match value.get_ref() {
            DeValue::Table(t) => t
                .iter()
                .find(|(k, v)| {
                    let (ks, vs) = (k.span(), v.span());
                    (ks.start <= at.start && at.end <= ks.end) || (vs.start <= at.start && at.end <= vs.end)
                })
                .map(|(k, _)| k.clone()),
            _ => None,
        });
        c.de_error(name, err);
        let (Some(key), DeValue::Table(t)) = (culprit, value.get_mut()) else { return None };
        t.remove(&key);
    }
}

/// Where each key of a table is (its key's span); empty for anything else.
fn key_spans(value: &Spanned<DeValue<'_>>) -> std::collections::HashMap<String, Range<usize>> {
    match value.get_ref() {
        DeValue::Table(t) => t.iter().map(|(k, _)| (k.get_ref().to_string(), k.span())).collect(),
        _ => Default::default(),
    }
}

/// Where a registry's entry is, and each of its keys.
#[derive(Debug, Clone)]
pub(super) struct RegistrySpans {
    pub table: Range<usize>,
    pub keys: std::collections::HashMap<String, Range<usize>>,
}

impl RegistrySpans {
    /// The span of `key`, else of the entry.
    pub fn key(&self, key: &str) -> Range<usize> {
        self.keys.get(key).cloned().unwrap_or_else(|| self.table.clone())
    }
}

fn array_items<'i>(
    c: &mut Collector<'_>,
    name: &str,
    value: Spanned<DeValue<'i>>,
) -> Vec<(Range<usize>, Spanned<DeValue<'i>>)> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Array(items) => items.iter().map(|v| (v.span(), v.clone())).collect(),
        _ => {
            c.push(Some(span), format!("{name} must be an array of tables"));
            Vec::new()
        }
    }
}

fn interpolate_table(table: &mut DeTable<'_>, env: &dyn Fn(&str) -> Option<String>, c: &mut Collector<'_>) {
    for (_, value) in table.iter_mut() {
        interpolate_value(value, env, c);
    }
}

fn interpolate_value(value: &mut Spanned<DeValue<'_>>, env: &dyn Fn(&str) -> Option<String>, c: &mut Collector<'_>) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(s) if s.contains("${") => match interpolate(s, env) {
            Ok(new) => *s = new.into(),
            Err(msg) => c.push(Some(span), msg),
        },
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                interpolate_value(item, env, c);
            }
        }
        DeValue::Table(t) => interpolate_table(t, env, c),
        _ => {}
    }
}

/// Replace `${NAME}` and `${NAME:-default}`; `$${` writes a literal `${`.
pub fn interpolate(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(stripped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = stripped;
            continue;
        }
        let Some(body) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };
        let Some(end) = body.find('}') else {
            return Err(format!("unterminated `${{` in `{s}`"));
        };
        let expr = &body[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            && !name.starts_with(|ch: char| ch.is_ascii_digit());
        if !valid {
            return Err(format!("invalid environment variable name `{name}`"));
        }
        match (env(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(format!("environment variable `{name}` is not set")),
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
