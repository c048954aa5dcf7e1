//! What BatleHub reads of a `go.mod`: the `module` directive and the
//! `retract` directives (single versions and `[low, high]` intervals, on
//! one line or in a block).

use super::names::Version;

/// One retraction: a version, or an inclusive interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retraction {
    pub low: String,
    pub high: String,
}

impl Retraction {
    pub fn covers(&self, v: &Version) -> bool {
        match (Version::parse(&self.low), Version::parse(&self.high)) {
            (Ok(low), Ok(high)) => low <= *v && *v <= high,
            _ => false,
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GoMod {
    pub module: Option<String>,
    pub retract: Vec<Retraction>,
}

fn strip_comment(line: &str) -> &str {
    match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    }
}

fn unquote(s: &str) -> Result<String, String> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        if inner.contains(['\\', '"']) {
            return Err(format!("unsupported quoted string {s}"));
        }
        return Ok(inner.to_string());
    }
    if let Some(inner) = s.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        return Ok(inner.to_string());
    }
    Ok(s.to_string())
}

fn retraction(arg: &str) -> Result<Retraction, String> {
    let arg = arg.trim();
    let check = |v: &str| Version::parse(v).map(|_| v.to_string());
    if let Some(inner) = arg.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let (low, high) = inner.split_once(',').ok_or_else(|| format!("malformed retract interval `{arg}`"))?;
        let (low, high) = (check(unquote(low)?.trim())?, check(unquote(high)?.trim())?);
        return Ok(Retraction { low, high });
    }
    let v = check(&unquote(arg)?)?;
    Ok(Retraction { low: v.clone(), high: v })
}

/// Parse the directives BatleHub needs; the rest is the go command's.
pub fn parse(text: &str) -> Result<GoMod, String> {
    let mut out = GoMod::default();
    let mut block: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let at = |e: String| format!("line {}: {e}", n + 1);
        if let Some(verb) = &block {
            if line == ")" {
                block = None;
                continue;
            }
            match verb.as_str() {
                "module" => out.module = Some(unquote(line).map_err(at)?),
                "retract" => out.retract.push(retraction(line).map_err(at)?),
                _ => {}
            }
            continue;
        }
        let (verb, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        if rest == "(" {
            block = Some(verb.to_string());
            continue;
        }
        match verb {
            "module" => {
                if out.module.is_some() {
                    return Err(at("repeated module directive".into()));
                }
                out.module = Some(unquote(rest).map_err(at)?);
            }
            "retract" => out.retract.push(retraction(rest).map_err(at)?),
            _ => {}
        }
    }
    if block.is_some() {
        return Err("unterminated block".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_and_retractions() {
        let m = parse(
            "// comment\nmodule \"example.com/m\" // trailing\n\ngo 1.21\n\nrequire (\n\texample.com/x v1.0.0\n)\n\
             retract v1.0.1 // oops\nretract (\n\t[v1.1.0, v1.2.0]\n\tv1.3.0\n)\n",
        )
        .expect("parses");
        assert_eq!(m.module.as_deref(), Some("example.com/m"));
        assert_eq!(m.retract.len(), 3);
        let v = |s: &str| Version::parse(s).expect("v");
        assert!(m.retract.iter().any(|r| r.covers(&v("v1.0.1"))));
        assert!(m.retract.iter().any(|r| r.covers(&v("v1.1.5"))));
        assert!(!m.retract.iter().any(|r| r.covers(&v("v1.2.1"))));
        assert!(parse("module a\nmodule b\n").is_err());
        assert!(parse("module a\nretract (\n").is_err());
        assert!(parse("retract [v1.0.0 v2.0.0]\n").is_err());
        assert!(parse("retract latest\n").is_err());
        assert_eq!(parse("go 1.21\n").map(|m| m.module), Ok(None));
    }
}
