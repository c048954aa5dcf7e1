//! Ruby's Marshal format (4.8), written: what the legacy RubyGems indexes
//! (`specs.4.8.gz`, `quick/Marshal.4.8/*.gemspec.rz`) hold, as `gem`
//! reads them. Only writing; BatleHub never loads Marshal data.

/// A Ruby value of the kinds the indexes use.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    /// A UTF-8 string.
    Str(String),
    Symbol(String),
    Array(Vec<Value>),
    Hash(Vec<(Value, Value)>),
    /// An object with `marshal_dump` (`Gem::Version`, `Gem::Requirement`).
    UserMarshal(String, Box<Value>),
    /// An object with `_dump` (`Gem::Specification`): its bytes.
    UserDefined(String, Vec<u8>),
    /// A plain object and its instance variables (`Gem::Dependency`).
    Object(String, Vec<(String, Value)>),
}

/// Marshal `value`.
pub fn dump(value: &Value) -> Vec<u8> {
    let mut w = Writer { out: vec![4, 8], symbols: Vec::new() };
    w.value(value);
    w.out
}

struct Writer {
    out: Vec<u8>,
    symbols: Vec<String>,
}

impl Writer {
    fn int(&mut self, n: i64) {
        match n {
            0 => self.out.push(0),
            1..=122 => self.out.push((n + 5) as u8),
            -123..=-1 => self.out.push((n - 5) as u8),
            _ => {
                let mut bytes = Vec::new();
                let mut x = n;
                for _ in 0..4 {
                    bytes.push((x & 0xff) as u8);
                    x >>= 8;
                    if (n >= 0 && x == 0) || (n < 0 && x == -1) {
                        break;
                    }
                }
                let len = bytes.len() as i8;
                self.out.push(if n >= 0 { len as u8 } else { (-len) as u8 });
                self.out.extend(bytes);
            }
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        self.int(b.len() as i64);
        self.out.extend_from_slice(b);
    }

    fn symbol(&mut self, s: &str) {
        if let Some(i) = self.symbols.iter().position(|x| x == s) {
            self.out.push(b';');
            self.int(i as i64);
            return;
        }
        self.symbols.push(s.to_string());
        self.out.push(b':');
        self.bytes(s.as_bytes());
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Nil => self.out.push(b'0'),
            Value::Bool(true) => self.out.push(b'T'),
            Value::Bool(false) => self.out.push(b'F'),
            Value::Int(n) => {
                self.out.push(b'i');
                self.int(*n);
            }
            Value::Str(s) => {
                // A String with its encoding (E: true is UTF-8).
                self.out.push(b'I');
                self.out.push(b'"');
                self.bytes(s.as_bytes());
                self.int(1);
                self.symbol("E");
                self.out.push(b'T');
            }
            Value::Symbol(s) => self.symbol(s),
            Value::Array(items) => {
                self.out.push(b'[');
                self.int(items.len() as i64);
                for i in items {
                    self.value(i);
                }
            }
            Value::Hash(pairs) => {
                self.out.push(b'{');
                self.int(pairs.len() as i64);
                for (k, x) in pairs {
                    self.value(k);
                    self.value(x);
                }
            }
            Value::UserMarshal(class, inner) => {
                self.out.push(b'U');
                self.symbol(class);
                self.value(inner);
            }
            Value::UserDefined(class, data) => {
                self.out.push(b'u');
                self.symbol(class);
                self.bytes(data);
            }
            Value::Object(class, ivars) => {
                self.out.push(b'o');
                self.symbol(class);
                self.int(ivars.len() as i64);
                for (name, x) in ivars {
                    self.symbol(name);
                    self.value(x);
                }
            }
        }
    }
}

/// A `Gem::Version`.
pub fn version(v: &str) -> Value {
    Value::UserMarshal("Gem::Version".into(), Box::new(Value::Array(vec![Value::Str(v.into())])))
}

/// A `Gem::Requirement` from `>= 1.0, < 2` (`None`: `>= 0`).
pub fn requirement(req: Option<&str>) -> Value {
    let pairs: Vec<Value> = match req {
        Some(r) => r
            .split(", ")
            .filter_map(|p| p.trim().split_once(' '))
            .map(|(op, v)| Value::Array(vec![Value::Str(op.into()), version(v)]))
            .collect(),
        None => vec![Value::Array(vec![Value::Str(">=".into()), version("0")])],
    };
    Value::UserMarshal("Gem::Requirement".into(), Box::new(Value::Array(vec![Value::Array(pairs)])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings() {
        // Marshal.dump of these in Ruby 3.1.
        assert_eq!(dump(&Value::Nil), b"\x04\x080");
        assert_eq!(dump(&Value::Int(0)), b"\x04\x08i\x00");
        assert_eq!(dump(&Value::Int(5)), b"\x04\x08i\x0a");
        assert_eq!(dump(&Value::Int(300)), b"\x04\x08i\x02\x2c\x01");
        assert_eq!(dump(&Value::Int(-1)), b"\x04\x08i\xfa");
        assert_eq!(dump(&Value::Str("ab".into())), b"\x04\x08I\"\x07ab\x06:\x06ET");
        assert_eq!(
            dump(&Value::Array(vec![Value::Symbol("a".into()), Value::Symbol("a".into())])),
            b"\x04\x08[\x07:\x06a;\x00"
        );
        // Gem::Version.new("1.0")
        assert_eq!(dump(&version("1.0")), b"\x04\x08U:\x11Gem::Version[\x06I\"\x081.0\x06:\x06ET");
    }
}
