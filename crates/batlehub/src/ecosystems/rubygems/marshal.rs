//! Ruby's Marshal format (4.8): what the legacy RubyGems indexes
//! (`specs.4.8.gz`, `quick/Marshal.4.8/*.gemspec.rz`) and the dependency
//! API hold, written as `gem` reads them, and read back from an upstream's
//! (to merge local gems in) as plain data: no Ruby object is ever made, only
//! the kinds below are accepted, and object links are followed within a
//! budget (a document of shared references cannot make a large tree).

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

/// Marshal an array written one element at a time (a large index is never
/// held as one tree).
#[derive(Default)]
pub struct ArrayWriter {
    body: Writer,
    len: usize,
}

impl ArrayWriter {
    pub fn push(&mut self, v: &Value) {
        self.body.value(v);
        self.len += 1;
    }

    pub fn finish(self) -> Vec<u8> {
        let mut head = Writer { out: vec![4, 8, b'['], symbols: Vec::new() };
        head.int(self.len as i64);
        head.out.extend(self.body.out);
        head.out
    }
}

#[derive(Default)]
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

/// The most nodes one read may produce (links followed included).
pub const NODE_BUDGET: usize = 64 * 1024 * 1024;
const MAX_DEPTH: usize = 48;

/// Reads Marshal data. Objects are remembered by where they start, and a
/// link (`@n`) is read again from there, so memory does not grow with what
/// links share; every node made counts against a budget.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    symbols: Vec<String>,
    objects: Vec<usize>,
    budget: usize,
    /// Reading again at a link: nothing is registered.
    replay: bool,
}

type Read<T> = Result<T, String>;

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], budget: usize) -> Read<Reader<'a>> {
        if data.len() < 2 || data[0] != 4 || data[1] != 8 {
            return Err("not Marshal 4.8 data".into());
        }
        Ok(Reader { data, pos: 2, symbols: Vec::new(), objects: Vec::new(), budget, replay: false })
    }

    fn byte(&mut self) -> Read<u8> {
        let b = *self.data.get(self.pos).ok_or("truncated Marshal data")?;
        self.pos += 1;
        Ok(b)
    }

    fn int(&mut self) -> Read<i64> {
        let c = self.byte()? as i8;
        Ok(match c {
            0 => 0,
            5..=127 => i64::from(c) - 5,
            -128..=-5 => i64::from(c) + 5,
            1..=4 => {
                let mut n: i64 = 0;
                for i in 0..c {
                    n |= i64::from(self.byte()?) << (8 * i);
                }
                n
            }
            _ => {
                let mut n: i64 = -1;
                for i in 0..-c {
                    n &= !(0xff << (8 * i));
                    n |= i64::from(self.byte()?) << (8 * i);
                }
                n
            }
        })
    }

    fn len(&mut self) -> Read<usize> {
        let n = self.int()?;
        let n = usize::try_from(n).map_err(|_| "negative length in Marshal data")?;
        // Every element takes at least a byte.
        if n > self.data.len() - self.pos.min(self.data.len()) {
            return Err("length beyond the end of the Marshal data".into());
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Read<&'a [u8]> {
        let n = self.len()?;
        let b = self.data.get(self.pos..self.pos + n).ok_or("truncated Marshal data")?;
        self.pos += n;
        Ok(b)
    }

    fn spend(&mut self) -> Read<()> {
        self.budget = self.budget.checked_sub(1).ok_or("Marshal data too large (node budget spent)")?;
        Ok(())
    }

    fn register(&mut self, at: usize) {
        if !self.replay {
            self.objects.push(at);
        }
    }

    fn symbol(&mut self) -> Read<String> {
        match self.byte()? {
            b':' => self.symbol_body(),
            b';' => {
                let i = self.len_index()?;
                self.symbols.get(i).cloned().ok_or_else(|| "unknown symbol link in Marshal data".into())
            }
            b'I' => {
                // A symbol with an encoding.
                if self.byte()? != b':' {
                    return Err("expected a symbol in Marshal data".into());
                }
                let s = self.symbol_body()?;
                self.skip_ivars(0)?;
                Ok(s)
            }
            t => Err(format!("expected a symbol in Marshal data, found type {:?}", t as char)),
        }
    }

    fn len_index(&mut self) -> Read<usize> {
        usize::try_from(self.int()?).map_err(|_| "negative index in Marshal data".into())
    }

    fn symbol_body(&mut self) -> Read<String> {
        let b = self.bytes()?;
        let s = String::from_utf8_lossy(b).into_owned();
        if !self.replay {
            self.symbols.push(s.clone());
        }
        Ok(s)
    }

    /// Instance variables after an object: read (objects in them count) and
    /// dropped (an encoding flag, mostly).
    fn skip_ivars(&mut self, depth: usize) -> Read<()> {
        let n = self.len()?;
        for _ in 0..n {
            self.symbol()?;
            self.value(depth + 1)?;
        }
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Read<Value> {
        if depth > MAX_DEPTH {
            return Err("Marshal data nested too deeply".into());
        }
        self.spend()?;
        let at = self.pos;
        let t = self.byte()?;
        Ok(match t {
            b'0' => Value::Nil,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'i' => Value::Int(self.int()?),
            b':' => Value::Symbol(self.symbol_body()?),
            b';' => {
                let i = self.len_index()?;
                Value::Symbol(self.symbols.get(i).cloned().ok_or("unknown symbol link in Marshal data")?)
            }
            b'@' => {
                let i = self.len_index()?;
                let target = *self.objects.get(i).ok_or("unknown object link in Marshal data")?;
                if target >= at {
                    return Err("object link forward in Marshal data".into());
                }
                let (pos, replay) = (self.pos, self.replay);
                self.pos = target;
                self.replay = true;
                let v = self.value(depth + 1);
                self.pos = pos;
                self.replay = replay;
                v?
            }
            b'I' => {
                let inner_at = self.pos;
                let (v, pending) = match self.data.get(inner_at) {
                    // `_dump` data reads its own instance variables.
                    Some(b'u') => (self.value(depth + 1)?, false),
                    _ => (self.value(depth + 1)?, true),
                };
                if pending {
                    self.skip_ivars(depth)?;
                }
                v
            }
            b'"' => {
                let b = self.bytes()?;
                self.register(at);
                Value::Str(String::from_utf8_lossy(b).into_owned())
            }
            b'[' => {
                self.register(at);
                let n = self.len()?;
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            b'{' => {
                self.register(at);
                let n = self.len()?;
                let mut pairs = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let k = self.value(depth + 1)?;
                    let v = self.value(depth + 1)?;
                    pairs.push((k, v));
                }
                Value::Hash(pairs)
            }
            b'U' => {
                let class = self.symbol()?;
                self.register(at);
                Value::UserMarshal(class, Box::new(self.value(depth + 1)?))
            }
            b'u' => {
                let class = self.symbol()?;
                let data = self.bytes()?.to_vec();
                // Wrapped in `I`: the data string's instance variables.
                if at > 2 && self.data.get(at - 1) == Some(&b'I') && !self.replay {
                    self.skip_ivars(depth)?;
                }
                self.register(at);
                Value::UserDefined(class, data)
            }
            b'o' => {
                let class = self.symbol()?;
                self.register(at);
                let n = self.len()?;
                let mut ivars = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    let name = self.symbol()?;
                    ivars.push((name, self.value(depth + 1)?));
                }
                Value::Object(class, ivars)
            }
            t => return Err(format!("unsupported Marshal type {:?}", t as char)),
        })
    }
}

/// Read one Marshal value (within [`NODE_BUDGET`]).
pub fn load(data: &[u8]) -> Result<Value, String> {
    let mut r = Reader::new(data, NODE_BUDGET)?;
    let v = r.value(0)?;
    if r.pos != data.len() {
        return Err("trailing bytes after Marshal data".into());
    }
    Ok(v)
}

/// Read a Marshal array one element at a time, giving each to `each`
/// (within [`NODE_BUDGET`] in all).
pub fn load_array_each(data: &[u8], mut each: impl FnMut(Value) -> Result<(), String>) -> Result<(), String> {
    let mut r = Reader::new(data, NODE_BUDGET)?;
    if r.byte()? != b'[' {
        return Err("Marshal data is not an array".into());
    }
    r.register(2);
    let n = r.len()?;
    for _ in 0..n {
        let v = r.value(1)?;
        each(v)?;
    }
    if r.pos != data.len() {
        return Err("trailing bytes after Marshal data".into());
    }
    Ok(())
}

/// The version string of a `Gem::Version`.
pub fn version_of(v: &Value) -> Option<&str> {
    match v {
        Value::UserMarshal(class, inner) if class == "Gem::Version" => match &**inner {
            Value::Array(items) => match items.first() {
                Some(Value::Str(s)) => Some(s),
                _ => None,
            },
            _ => None,
        },
        _ => None,
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

    #[test]
    fn reads_what_it_writes_and_ruby_links() {
        let v = Value::Array(vec![
            Value::Array(vec![Value::Str("rack".into()), version("3.0.0"), Value::Str("ruby".into())]),
            Value::Hash(vec![(Value::Symbol("name".into()), Value::Int(-300)), (Value::Symbol("name".into()), Value::Nil)]),
            Value::Object("Gem::Dependency".into(), vec![("@name".into(), Value::Bool(true))]),
            Value::UserDefined("Gem::Specification".into(), vec![1, 2, 3]),
        ]);
        assert_eq!(load(&dump(&v)).unwrap(), v);
        for n in [0i64, 1, 122, 123, 255, 256, 65_535, 1 << 20, -1, -123, -124, -256, -65_536, -(1 << 20)] {
            assert_eq!(load(&dump(&Value::Int(n))).unwrap(), Value::Int(n), "{n}");
        }
        // Ruby 3.1: s = "ruby"; Marshal.dump([["a", s], ["b", s]]) links the
        // second "ruby" to object 3 (the outer array is 0, ["a", s] 1, "a" 2).
        let ruby = b"\x04\x08[\x07[\x07I\"\x06a\x06:\x06ETI\"\x09ruby\x06;\x00T[\x07I\"\x06b\x06;\x00T@\x08";
        let got = load(ruby).unwrap();
        let pair = |a: &str| Value::Array(vec![Value::Str(a.into()), Value::Str("ruby".into())]);
        assert_eq!(got, Value::Array(vec![pair("a"), pair("b")]));
        let mut seen = Vec::new();
        load_array_each(ruby, |v| {
            seen.push(v);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![pair("a"), pair("b")]);
        // Ruby 3.1: a specs index with a shared platform string and a
        // symbol link to Gem::Version, and a dependency API answer.
        let specs = hex::decode("04085b085b084922097261636b063a064554553a1147656d3a3a56657273696f6e5b0649220a332e302e30063b005449220972756279063b00545b0849220e7261636b2d74657374063b0054553b065b0649220e322e312e302e707265063b0054400b5b0849220d6e6f6b6f67697269063b0054553b065b0649220b312e31352e30063b00544922117838365f36342d6c696e7578063b0054").unwrap();
        let tuple = |n: &str, v: &str, p: &str| Value::Array(vec![Value::Str(n.into()), version(v), Value::Str(p.into())]);
        assert_eq!(
            load(&specs).unwrap(),
            Value::Array(vec![
                tuple("rack", "3.0.0", "ruby"),
                tuple("rack-test", "2.1.0.pre", "ruby"),
                tuple("nokogiri", "1.15.0", "x86_64-linux")
            ])
        );
        let deps = hex::decode("04085b067b093a096e616d654922097261636b063a0645543a0b6e756d62657249220a332e302e30063b06543a0d706c6174666f726d49220972756279063b06543a11646570656e64656e636965735b065b074922117261636b2d73657373696f6e063b065449220b3e3d20312e30063b0654").unwrap();
        let sym = |s: &str| Value::Symbol(s.into());
        let st = |s: &str| Value::Str(s.into());
        assert_eq!(
            load(&deps).unwrap(),
            Value::Array(vec![Value::Hash(vec![
                (sym("name"), st("rack")),
                (sym("number"), st("3.0.0")),
                (sym("platform"), st("ruby")),
                (sym("dependencies"), Value::Array(vec![Value::Array(vec![st("rack-session"), st(">= 1.0")])])),
            ])])
        );
    }

    #[test]
    fn hostile_data_is_refused() {
        for bad in [
            &b""[..],
            b"\x04\x09[\x00",
            b"\x04\x08[\x7f",                 // 122 elements, none there
            b"\x04\x08@\x00",                 // a link to nothing
            b"\x04\x08[\x06@\x00",           // a link to the array itself (a cycle)
            b"\x04\x08;\x00",                 // a symbol link to nothing
            b"\x04\x08f\x081.5",              // floats are not accepted
            b"\x04\x08c\x0bObject",           // nor classes
            b"\x04\x08\"\x7f",               // a string past the end
            b"\x04\x080\x00",                 // trailing bytes
        ] {
            assert!(load(bad).is_err(), "{bad:?}");
        }
        // Deep nesting.
        let mut deep = vec![4u8, 8];
        deep.extend(std::iter::repeat_n([b'[', 6u8], 200).flatten());
        deep.push(b'0');
        assert!(load(&deep).is_err());
        // Links that share: each level links twice to the one below, so a
        // tree would double per level; the budget stops it.
        let mut bomb = vec![4u8, 8, b'[', 0x06 + 40];
        bomb.extend_from_slice(b"I\"\x06x\x06:\x06ET");
        for i in 1..40u8 {
            // [@(i), @(i)] : object i is the previous array (or the string).
            bomb.extend_from_slice(&[b'[', 7, b'@', i + 5, b'@', i + 5]);
        }
        let mut r = Reader::new(&bomb, 1_000_000).unwrap();
        assert!(r.value(0).is_err());
    }

}
