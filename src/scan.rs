//! A strict JSON scanner over the request's bytes, for the one pass that reads a request.
//!
//! It hands out keys and strings as slices of the request and skips everything else, checking
//! it as it goes: what it accepts, serde_json accepts (RFC 8259: the number grammar, escapes,
//! no control characters in strings, nothing after the document but whitespace). Like
//! serde_json, it checks UTF-8 only where it reads (keys of the objects it walks, the strings
//! it hands out), not in what it skips. What serde_json reads differently (a struct written as
//! an array) or refuses where this scanner reads (a duplicate field) it leaves with [`Unread`]
//! to the serde reader (`request::read_traced`), which reads or explains the request.
//!
//! Why not serde_json here too: skipping is most of what the policy does, and serde_json's
//! generic skip takes nearly twice the instructions this one does on a Kubernetes object
//! (short strings, little whitespace), more in wasm32, where serde_json scans strings four
//! bytes at a time and this scanner eight (docs/performance.md).

use std::borrow::Cow;

/// The scanner does not read this input: it is malformed, or asks for more than the scanner
/// reads. The serde reader says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unread;

pub type Result<T> = std::result::Result<T, Unread>;

/// A string as written in the request, quotes included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawString<'a> {
    pub raw: &'a [u8],
    /// Whether it has a backslash escape.
    pub escaped: bool,
}

impl<'a> RawString<'a> {
    /// The bytes between the quotes, as written.
    fn inner(self) -> &'a [u8] {
        &self.raw[1..self.raw.len() - 1]
    }

    /// The string's value: borrowed when it has no escapes, decoded by serde_json when it has.
    pub fn text(self) -> Result<Cow<'a, str>> {
        if self.escaped {
            serde_json::from_slice::<String>(self.raw)
                .map(Cow::Owned)
                .map_err(|_| Unread)
        } else {
            std::str::from_utf8(self.inner())
                .map(Cow::Borrowed)
                .map_err(|_| Unread)
        }
    }

    /// The string's JSON text, quotes and escapes included.
    pub fn json(self) -> Result<&'a str> {
        std::str::from_utf8(self.raw).map_err(|_| Unread)
    }
}

/// A position in a JSON document.
pub struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// Whitespace as JSON has it (not `u8::is_ascii_whitespace`, which takes form feed too).
pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

const ONES: u64 = u64::MAX / 255;

/// The high bit of each byte of `chunk` that is a quote, a backslash or a control character.
#[inline(always)]
fn specials(chunk: u64) -> u64 {
    let control = chunk.wrapping_sub(ONES * 0x20) & !chunk;
    let quote = chunk ^ (ONES * u64::from(b'"'));
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = chunk ^ (ONES * u64::from(b'\\'));
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (control | quote | backslash) & (ONES << 7)
}

impl<'a> Scanner<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Scanner { bytes, at: 0 }
    }

    /// How far the scanner is, in bytes.
    pub fn position(&self) -> usize {
        self.at
    }

    /// The bytes from `start` to where the scanner is.
    pub fn since(&self, start: usize) -> &'a [u8] {
        &self.bytes[start..self.at]
    }

    /// The next byte that is not whitespace, not consumed.
    #[inline(always)]
    pub fn peek(&mut self) -> Option<u8> {
        self.at = space(self.bytes, self.at);
        self.bytes.get(self.at).copied()
    }

    /// Consumes `byte` (after whitespace), or fails.
    #[inline(always)]
    fn expect(&mut self, byte: u8) -> Result<()> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(Unread)
        }
    }

    /// Nothing but whitespace is left.
    pub fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(Unread),
        }
    }

    /// Consumes `null` if it comes next.
    #[inline]
    pub fn null(&mut self) -> Result<bool> {
        if self.peek() != Some(b'n') {
            return Ok(false);
        }
        self.at = literal(self.bytes, self.at, b"null")?;
        Ok(true)
    }

    /// Reads the string that comes next.
    #[inline(always)]
    pub fn string(&mut self) -> Result<RawString<'a>> {
        if self.peek() != Some(b'"') {
            return Err(Unread);
        }
        let start = self.at;
        let (end, escaped) = string_end(self.bytes, start)?;
        self.at = end;
        Ok(RawString {
            raw: &self.bytes[start..end],
            escaped,
        })
    }

    /// Walks the object that comes next, calling `each` with every key (its value, decoded
    /// when it has escapes, as serde_json decodes the keys of the objects it reads: so it must
    /// be UTF-8); `each` must consume the key's value.
    #[inline]
    pub fn object(&mut self, mut each: impl FnMut(&mut Self, &[u8]) -> Result<()>) -> Result<()> {
        let mut more = self.enter(b'{')?;
        while more {
            let key = self.string()?;
            let decoded;
            let name = if key.escaped {
                decoded = key.text()?;
                decoded.as_bytes()
            } else {
                let text = key.inner();
                if !text.is_ascii() && std::str::from_utf8(text).is_err() {
                    return Err(Unread);
                }
                text
            };
            self.expect(b':')?;
            each(self, name)?;
            more = self.next(b'}')?;
        }
        Ok(())
    }

    /// Walks the object that comes next, reading the fields named in `names` with `read`
    /// (given the index of the name) and skipping the others. A field named twice is refused,
    /// as serde's derived readers refuse it.
    #[inline]
    pub fn fields<const N: usize>(
        &mut self,
        names: [&[u8]; N],
        mut read: impl FnMut(&mut Self, usize) -> Result<()>,
    ) -> Result<()> {
        let mut seen = [false; N];
        self.object(|s, key| match names.iter().position(|name| *name == key) {
            Some(i) if !std::mem::replace(&mut seen[i], true) => read(s, i),
            Some(_) => Err(Unread),
            None => s.skip().map(drop),
        })
    }

    /// Walks the array that comes next, calling `each` with every index; `each` must consume
    /// the element.
    #[inline]
    pub fn array(&mut self, mut each: impl FnMut(&mut Self, usize) -> Result<()>) -> Result<()> {
        let mut more = self.enter(b'[')?;
        let mut index = 0;
        while more {
            each(self, index)?;
            index += 1;
            more = self.next(b']')?;
        }
        Ok(())
    }

    /// Consumes the opening bracket `open` that comes next; whether an element follows (if
    /// not, the closing bracket, two after `open` in ASCII, is consumed too).
    #[inline(always)]
    fn enter(&mut self, open: u8) -> Result<bool> {
        self.expect(open)?;
        if self.peek() == Some(open + 2) {
            self.at += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// Consumes what follows an element: a comma (another element follows) or the closing
    /// bracket `close` (none does).
    #[inline(always)]
    fn next(&mut self, close: u8) -> Result<bool> {
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                Ok(true)
            }
            Some(b) if b == close => {
                self.at += 1;
                Ok(false)
            }
            _ => Err(Unread),
        }
    }

    /// Skips the value that comes next, checking it; returns its text.
    pub fn skip(&mut self) -> Result<&'a [u8]> {
        let start = space(self.bytes, self.at);
        let end = skip_value(self.bytes, start)?;
        self.at = end;
        Ok(&self.bytes[start..end])
    }
}

/// Past the whitespace at `at`. policy-server writes none (compact serde_json), so the usual
/// case is one compare and no loop.
#[inline(always)]
fn space(bytes: &[u8], at: usize) -> usize {
    // Every whitespace byte is at most a space.
    match bytes.get(at) {
        Some(&b) if b <= b' ' => more_space(bytes, at),
        _ => at,
    }
}

fn more_space(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).copied().is_some_and(is_space) {
        at += 1;
    }
    at
}

/// Past `word` at `at`, or fails.
#[inline(always)]
fn literal(bytes: &[u8], at: usize, word: &[u8]) -> Result<usize> {
    if bytes.get(at..at + word.len()) == Some(word) {
        Ok(at + word.len())
    } else {
        Err(Unread)
    }
}

/// From the opening quote at `at` to past the closing one; whether there was an escape.
#[inline(always)]
fn string_end(bytes: &[u8], at: usize) -> Result<(usize, bool)> {
    let mut at = at + 1;
    let mut escaped = false;
    loop {
        // Eight bytes at a time to the first quote, backslash or control character.
        while let Some(chunk) = bytes.get(at..).and_then(<[u8]>::first_chunk::<8>) {
            let found = specials(u64::from_le_bytes(*chunk));
            if found != 0 {
                at += found.trailing_zeros() as usize / 8;
                break;
            }
            at += 8;
        }
        while let Some(&b) = bytes.get(at) {
            if b == b'"' || b == b'\\' || b < 0x20 {
                break;
            }
            at += 1;
        }
        match bytes.get(at) {
            Some(b'"') => return Ok((at + 1, escaped)),
            Some(b'\\') => {
                escaped = true;
                at += match bytes.get(at + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => 2,
                    Some(b'u') => match bytes.get(at + 2..at + 6) {
                        Some(hex) if hex.iter().all(u8::is_ascii_hexdigit) => 6,
                        _ => return Err(Unread),
                    },
                    _ => return Err(Unread),
                };
            }
            _ => return Err(Unread),
        }
    }
}

/// A key in a skipped object at `at` and its colon (not checked for UTF-8, as serde_json).
#[inline(always)]
fn skipped_key(bytes: &[u8], at: usize) -> Result<usize> {
    if bytes.get(at) != Some(&b'"') {
        return Err(Unread);
    }
    let at = space(bytes, string_end(bytes, at)?.0);
    if bytes.get(at) != Some(&b':') {
        return Err(Unread);
    }
    Ok(at + 1)
}

/// Past the value at `at` (no whitespace before it), checking it.
fn skip_value(bytes: &[u8], mut at: usize) -> Result<usize> {
    // The open containers, innermost in the low bit (1 an object, 0 an array), above a
    // sentinel 1; when 63 are open the word waits in `outer` (nesting has no limit, as in
    // serde_json's skip).
    let mut open: u64 = 1;
    let mut outer: Vec<u64> = Vec::new();
    loop {
        // A value.
        let Some(&b) = bytes.get(at) else {
            return Err(Unread);
        };
        match b {
            b'"' => at = string_end(bytes, at)?.0,
            b'{' | b'[' => {
                at = space(bytes, at + 1);
                // `}` and `]` are two after `{` and `[`.
                if bytes.get(at) == Some(&(b + 2)) {
                    at += 1;
                } else {
                    if open >> 63 == 1 {
                        outer.push(open);
                        open = 1;
                    }
                    let object = b == b'{';
                    open = (open << 1) | u64::from(object);
                    if object {
                        at = space(bytes, skipped_key(bytes, at)?);
                    }
                    continue;
                }
            }
            b't' => at = literal(bytes, at, b"true")?,
            b'f' => at = literal(bytes, at, b"false")?,
            b'n' => at = literal(bytes, at, b"null")?,
            b'-' | b'0'..=b'9' => at = number(bytes, at)?,
            _ => return Err(Unread),
        }
        // What follows a value: a comma and the next one, or the end of containers.
        loop {
            if open == 1 {
                match outer.pop() {
                    Some(word) => open = word,
                    None => return Ok(at),
                }
            }
            at = space(bytes, at);
            let object = open & 1 == 1;
            match bytes.get(at) {
                Some(b',') => {
                    at = space(bytes, at + 1);
                    if object {
                        at = space(bytes, skipped_key(bytes, at)?);
                    }
                    break;
                }
                Some(b'}') if object => {}
                Some(b']') if !object => {}
                _ => return Err(Unread),
            }
            at += 1;
            open >>= 1;
        }
    }
}

/// Past the number at `at`: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn number(bytes: &[u8], mut at: usize) -> Result<usize> {
    let digits = |at: &mut usize| {
        let from = *at;
        while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
            *at += 1;
        }
        *at > from
    };
    if bytes.get(at) == Some(&b'-') {
        at += 1;
    }
    match bytes.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => {
            digits(&mut at);
        }
        _ => return Err(Unread),
    }
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        if !digits(&mut at) {
            return Err(Unread);
        }
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        if !digits(&mut at) {
            return Err(Unread);
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::IgnoredAny;

    /// The whole document skipped as one value, as serde_json would.
    fn skims(doc: &[u8]) -> bool {
        let mut s = Scanner::new(doc);
        s.skip().is_ok() && s.end().is_ok()
    }

    fn serde_accepts(doc: &[u8]) -> bool {
        serde_json::from_slice::<IgnoredAny>(doc).is_ok()
    }

    const DOCUMENTS: &[&str] = &[
        "0",
        "-0",
        "01",
        "-",
        "1.",
        "1.5",
        ".5",
        "1e",
        "1e+",
        "1E-7",
        "1.5e10",
        "-12.0e+3",
        "+1",
        "1 2",
        "true",
        "tru",
        "nul",
        "null ",
        " \t\r\n{}\n",
        "\u{c}{}",
        "{}",
        "[]",
        "[,]",
        "[1,]",
        "[1,2]",
        "{\"a\":1,}",
        "{\"a\" : [1, {\"b\":null}] , \"c\":\"d\"}",
        "{\"a\"}",
        "{\"a\":}",
        "{1:2}",
        "{\"a\":1 \"b\":2}",
        "[}",
        "{]",
        "[[[[]]]]",
        "[[[[]]]",
        "\"\"",
        "\"a\\\"b\"",
        "\"\\u00e9\\uD83D\\uDE00\"",
        "\"\\uD800\"",
        "\"\\u12\"",
        "\"\\u12G4\"",
        "\"\\x\"",
        "\"a\u{1}b\"",
        "\"tab\there\"",
        "\"del\u{7f}\"",
        "\"unterminated",
        "\"long string with no escapes at all, longer than eight bytes\"",
        "\"long string with an escape \\n after eight bytes and \\\" a quote\"",
        "",
        " ",
        "{\"a\":1}x",
    ];

    #[test]
    fn accepts_what_serde_json_accepts() {
        for doc in DOCUMENTS {
            assert_eq!(
                skims(doc.as_bytes()),
                serde_accepts(doc.as_bytes()),
                "{doc:?}"
            );
        }
        // Invalid UTF-8 in a skipped string is skipped, as serde_json skips it.
        let bytes = b"{\"a\":\"\xff\xfe\"}";
        assert!(skims(bytes) && serde_accepts(bytes));
    }

    #[test]
    fn nesting_has_no_limit_when_skipped() {
        for depth in [1, 63, 64, 65, 128, 129, 1000, 100_000] {
            let doc = format!("{}1{}", "[{\"k\":".repeat(depth), "}]".repeat(depth));
            assert!(skims(doc.as_bytes()), "{depth}");
            let unclosed = &doc[..doc.len() - 1];
            assert!(!skims(unclosed.as_bytes()), "{depth}");
            let wrong = format!("{}}}", &doc[..doc.len() - 1]);
            assert!(!skims(wrong.as_bytes()), "{depth}");
        }
    }

    #[test]
    fn skip_returns_the_value_text() {
        let mut s = Scanner::new(b"  [1, {\"a\": \"b\"}] , 2");
        assert_eq!(s.skip().unwrap(), b"[1, {\"a\": \"b\"}]");
    }

    #[test]
    fn objects_hand_out_their_keys() {
        let doc = br#" { "a" : 1 , "b\u00e9":2 }"#;
        let mut keys = Vec::new();
        let mut s = Scanner::new(doc);
        // An escaped key is decoded.
        s.object(|s, k| {
            keys.push(String::from_utf8(k.to_vec()).unwrap());
            s.skip().map(drop)
        })
        .unwrap();
        assert_eq!(keys, ["a", "bé"]);
        // A key that serde_json cannot decode is not read.
        assert!(
            Scanner::new(br#"{"\ud800":1}"#)
                .object(|s, _| s.skip().map(drop))
                .is_err()
        );

        let mut s = Scanner::new(br#"{"a":[1,2],"b":"c"}"#);
        let mut seen = Vec::new();
        s.object(|s, k| {
            if k == b"a" {
                s.array(|s, i| {
                    seen.push(i);
                    s.skip().map(drop)
                })
            } else {
                assert_eq!(s.string()?.text()?, "c");
                Ok(())
            }
        })
        .unwrap();
        assert_eq!(seen, [0, 1]);
        s.end().unwrap();

        // Keys of a walked object must be UTF-8; values of an array must be separated.
        assert!(
            Scanner::new(b"{\"\xff\":1}")
                .object(|s, _| s.skip().map(drop))
                .is_err()
        );
        assert!(
            Scanner::new(b"[1 2]")
                .array(|s, _| s.skip().map(drop))
                .is_err()
        );
    }

    #[test]
    fn named_fields_are_read_once_and_others_skipped() {
        let read = |doc: &[u8]| {
            let mut got = Vec::new();
            Scanner::new(doc)
                .fields([b"a", b"b"], |s, i| {
                    got.push(i);
                    s.skip().map(drop)
                })
                .map(|()| got)
        };
        assert_eq!(read(br#"{"b":1,"x":[2],"a":"s"}"#), Ok(vec![1, 0]));
        // A named field twice is refused; an unnamed one is skipped each time, as serde's
        // derived readers do.
        assert_eq!(read(br#"{"a":1,"a":2}"#), Err(Unread));
        assert_eq!(read(br#"{"x":1,"x":2}"#), Ok(vec![]));
    }

    #[test]
    fn strings_are_decoded_as_serde_json_decodes_them() {
        for (doc, text) in [
            (r#""plain""#, Some("plain")),
            (r#""caf\u00e9 \"x\"""#, Some("café \"x\"")),
            (r#""\ud83d\ude00""#, Some("😀")),
            (r#""\ud83d""#, None),
        ] {
            let mut s = Scanner::new(doc.as_bytes());
            let raw = s.string().unwrap();
            assert_eq!(raw.json().unwrap(), doc);
            assert_eq!(raw.text().ok().as_deref(), text, "{doc}");
        }
        let mut s = Scanner::new(b"\"\xff\"");
        assert_eq!(s.string().unwrap().text(), Err(Unread));
    }

    fn json_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| serde_json::to_string(&f).unwrap()),
            any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
            "[a-z\\\\\"\u{1}é]{0,12}".prop_map(|s| format!("\"{s}\"")),
        ];
        leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("[a-z]{0,4}", inner), 0..6).prop_map(|v| {
                    let fields: Vec<String> = v
                        .into_iter()
                        .map(|(k, v)| format!("\"{k}\" : {v}"))
                        .collect();
                    format!("{{ {} }}", fields.join(" ,"))
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// On generated JSON and on every cut and one-byte change of it, the scanner accepts
        /// exactly what serde_json accepts.
        #[test]
        fn agrees_with_serde_json(
            doc in json_text(),
            cut in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
            byte in prop::sample::select(b" \t\"\\{}[],:-+.eE0123456789ntfalsu\x01\xff".to_vec()),
        ) {
            let bytes = doc.as_bytes();
            prop_assert_eq!(skims(bytes), serde_accepts(bytes), "{}", doc);
            let cut = &bytes[..cut.index(bytes.len() + 1)];
            prop_assert_eq!(skims(cut), serde_accepts(cut), "{:?}", cut);
            let mut changed = bytes.to_vec();
            if !changed.is_empty() {
                let i = at.index(changed.len());
                changed[i] = byte;
                prop_assert_eq!(skims(&changed), serde_accepts(&changed), "{:?}", String::from_utf8_lossy(&changed));
            }
        }
    }
}
