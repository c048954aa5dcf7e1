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
        let mut registries: Vec<(Range<usize>, RegistryConfig)> = Vec::new();

        for (key, value) in root.into_inner() {
            let key_span = key.span();
            let key_name = key.into_inner().into_owned();
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
                        match RegistryConfig::deserialize(ValueDeserializer::from(entry)) {
                            Ok(r) => registries.push((span, r)),
                            Err(e) => c.de_error("[[registries]]", e),
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
        for (span, r) in &mut registries {
            for ns in &mut r.namespaces {
                match rules.normalize_prefix(r.kind, &ns.prefix) {
                    Ok(p) => ns.prefix = p,
                    Err(msg) => c.push(Some(span.clone()), format!("registry `{}`: {msg}", r.name)),
                }
            }
            for name in &mut r.allow_upstream_names {
                match rules.normalize_name(r.kind, name) {
                    Some(key) => *name = key,
                    None => c.push(
                        Some(span.clone()),
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
    match T::deserialize(ValueDeserializer::from(value)) {
        Ok(v) => *out = v,
        Err(e) => c.de_error(name, e),
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
