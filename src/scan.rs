//! A strict JSON scanner over the request's bytes: the one reader of the `validate` payload
//! (`request.rs` reads the request's fields with it, `podspec.rs` the objects').
//!
//! It hands out keys and strings as slices of the request and skips everything else, checking
//! it as it goes: what it accepts, serde_json accepts (RFC 8259: the number grammar, escapes,
//! no control characters in strings, nothing after the document but whitespace). Like
//! serde_json, it checks UTF-8 only where it reads (keys of the objects it walks, the strings
//! it hands out), not in what it skips. Unlike serde's derived readers it reads an object only
//! as a JSON object (never a struct written as an array), and like them it refuses a field
//! named twice.
//!
//! When it stops ([`Stop`]), the scanner keeps why ([`Scanner::why`]) and the path of the
//! field it was reading, which the readers' [`Scanner::fields`] and [`Scanner::array`] add to
//! as the error passes through them: the hot path carries nothing but a unit error.
//!
//! Why not serde_json here too: skipping is most of what the policy does, and serde_json's
//! generic skip takes nearly twice the instructions this one does on a Kubernetes object
//! (short strings, little whitespace), more in wasm32, where serde_json scans strings four
//! bytes at a time and this scanner sixteen, with wasm's SIMD (eight in host builds;
//! docs/performance.md).

use std::borrow::Cow;

/// The scanner stopped: the input is malformed, or not what the reader asked for. The scanner
/// keeps why and where ([`Scanner::why`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop;

pub type Result<T> = std::result::Result<T, Stop>;

/// The fields a reader reads of one JSON object, by name: an enum whose variants the reader
/// matches on, so that the compiler checks every name is handled (declared with
/// [`json_fields!`]).
pub trait Field: Copy + 'static {
    /// The JSON names, in the order of [`Field::ALL`].
    const NAMES: &'static [&'static str];
    const ALL: &'static [Self];
}

/// Declares an enum of the fields a reader reads, each with its JSON name:
/// `json_fields!(ContainerField { Name = "name", Image = "image" });`
macro_rules! json_fields {
    (
        $(#[$doc:meta])* $vis:vis $name:ident {
            $($(#[$variant_doc:meta])* $variant:ident = $key:literal),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name { $($(#[$variant_doc])* $variant),+ }

        impl $crate::scan::Field for $name {
            const NAMES: &'static [&'static str] = &[$($key),+];
            const ALL: &'static [Self] = &[$($name::$variant),+];
        }
    };
}
pub(crate) use json_fields;

/// Where a value stands in the scanned bytes: `start..end`, its JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// One step of the path to the field where the scanner stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Key(&'static str),
    Index(usize),
}

/// Why the scanner stopped, when the input is JSON but not what was asked for (a malformed
/// document is explained by serde_json, [`Scanner::why`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The value at this offset is not of the type the reader asked for.
    Expected(&'static str, usize),
    /// A field the reader reads is named twice in one object.
    Duplicate(&'static str),
    /// A string the reader decodes (at this span) is not UTF-8, or has a lone surrogate
    /// escape.
    BadString(Span),
}

/// Why a scanner stopped ([`Scanner::why`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Why {
    /// The keys and `[index]` steps to the field being read, outermost first.
    pub path: Vec<String>,
    pub message: String,
    /// The JSON itself is malformed (rather than of another shape than asked for).
    pub malformed: bool,
}

impl Why {
    /// The path as written in messages: `spec.containers[0].image`.
    pub fn dotted(path: &[impl AsRef<str>]) -> String {
        let mut out = String::new();
        for step in path {
            let step = step.as_ref();
            if !out.is_empty() && !step.starts_with('[') {
                out.push('.');
            }
            out.push_str(step);
        }
        out
    }
}

/// A position in a JSON document.
pub struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    refusal: Option<Refusal>,
    /// The path to where the scanner stopped, innermost step first.
    path: Vec<Step>,
}

/// Whitespace as JSON has it (not `u8::is_ascii_whitespace`, which takes form feed too).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

// How many bytes a string scan looks at in one step (`CHUNK`), and where in a chunk it stops
// (`first_special`): sixteen bytes in the policy's wasm build, with wasm's SIMD (`simd128`,
// which `.cargo/config.toml` enables and every wasmtime, so policy-server, runs); eight in a
// `u64` (SWAR) where that is not available, as in the tests and fuzzing on the host. Both
// stop at the same bytes; the e2e test `policy_wasm_string_scan_stops_where_serde_json_does`
// checks the wasm's.
//
// Kept because it pays (2026-12-06, at a81e392, docs/performance.md): against the SWAR scan
// in the same wasm, under the real `kwctl run`, the policy's own instructions (kwctl's
// `PolicyEvaluator::validate` less the no-op's) are 8% fewer on the bench's Pod (89.4k
// against 96.5k) and 14% fewer on its 35-container Deployment (0.968M against 1.125M); in
// wasm instructions (fuel), 13% and 15%. Scanning a byte at a time costs 86% more fuel.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use simd::{CHUNK, first_special};
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use swar::{CHUNK, first_special};

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::{u8x16, u8x16_bitmask, u8x16_eq, u8x16_min, u8x16_splat, v128_or};

    pub const CHUNK: usize = 16;

    /// The offset in `chunk` of the first byte a string scan must stop at: a quote, a
    /// backslash or a control character (below 0x20); `None` if the chunk has none.
    #[inline(always)]
    pub fn first_special(chunk: &[u8; CHUNK]) -> Option<usize> {
        let c = *chunk;
        // One 16-byte load (LLVM makes `v128.load` of this).
        let v = u8x16(
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12], c[13],
            c[14], c[15],
        );
        let quote = u8x16_eq(v, u8x16_splat(b'"'));
        let backslash = u8x16_eq(v, u8x16_splat(b'\\'));
        // Unsigned: a byte is at most 0x1f when the smaller of it and 0x1f is itself.
        let control = u8x16_eq(u8x16_min(v, u8x16_splat(0x1f)), v);
        // One bit per byte, from the high bit of each lane: the first byte is the lowest bit.
        let found = u8x16_bitmask(v128_or(v128_or(quote, backslash), control));
        (found != 0).then(|| found.trailing_zeros() as usize)
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod swar {
    pub const CHUNK: usize = 8;

    /// The offset in `chunk` of the first byte a string scan must stop at: a quote, a
    /// backslash or a control character (below 0x20); `None` if the chunk has none.
    #[inline(always)]
    pub fn first_special(chunk: &[u8; CHUNK]) -> Option<usize> {
        let found = specials(u64::from_le_bytes(*chunk));
        // Little-endian, so the lowest flag is the first byte in the text.
        (found != 0).then(|| found.trailing_zeros() as usize / 8)
    }

    /// Eight copies of the byte 0x01: multiplied by a byte, eight copies of that byte.
    const ONES: u64 = u64::MAX / 255;

    /// The high bit of each byte of `chunk` that is a quote, a backslash or a control
    /// character (below 0x20). `x - 0x01` borrows into a byte's high bit exactly where the
    /// byte was 0 (`& !x` drops bytes whose high bit was already set), so XOR with the quote
    /// or backslash and subtract finds those; `x - 0x20` borrows where a byte is below 0x20.
    /// A borrow can flag a byte after a true match, never one before it, so the lowest flag
    /// is exact: the caller uses only that one.
    #[inline(always)]
    fn specials(chunk: u64) -> u64 {
        let control = chunk.wrapping_sub(ONES * 0x20) & !chunk;
        let quote = chunk ^ (ONES * u64::from(b'"'));
        let quote = quote.wrapping_sub(ONES) & !quote;
        let backslash = chunk ^ (ONES * u64::from(b'\\'));
        let backslash = backslash.wrapping_sub(ONES) & !backslash;
        (control | quote | backslash) & (ONES << 7)
    }
}

impl<'a> Scanner<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self::at(bytes, 0)
    }

    /// A scanner of `bytes` from the offset `at` (a value captured earlier, read in place so
    /// that the spans it gives are offsets in `bytes`).
    pub fn at(bytes: &'a [u8], at: usize) -> Self {
        Scanner {
            bytes,
            at,
            refusal: None,
            path: Vec::new(),
        }
    }

    /// The bytes scanned, for the spans the scanner gives.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// How far the scanner is, in bytes.
    pub fn position(&self) -> usize {
        self.at
    }

    /// Goes back to `at` (a position this scanner was at) and forgets why it stopped.
    pub fn rewind(&mut self, at: usize) {
        self.at = at;
        self.refusal = None;
        self.path.clear();
    }

    /// The next byte that is not whitespace, not consumed.
    #[inline(always)]
    pub fn peek(&mut self) -> Option<u8> {
        self.at = space(self.bytes, self.at);
        self.bytes.get(self.at).copied()
    }

    /// Records that the value that comes next is not `what` (`"a string"`), and stops.
    #[cold]
    fn expected(&mut self, what: &'static str) -> Stop {
        self.refusal = Some(Refusal::Expected(what, self.at));
        Stop
    }

    /// Adds the field `name` to the path of a refusal.
    #[cold]
    fn within(&mut self, name: &'static str) -> Stop {
        self.path.push(Step::Key(name));
        Stop
    }

    #[cold]
    fn duplicate(&mut self, name: &'static str) -> Stop {
        self.refusal = Some(Refusal::Duplicate(name));
        Stop
    }

    #[cold]
    fn bad_string(&mut self, span: Span) -> Stop {
        self.refusal = Some(Refusal::BadString(span));
        Stop
    }

    /// Consumes `byte` (after whitespace), or fails.
    #[inline(always)]
    fn expect(&mut self, byte: u8) -> Result<()> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(Stop)
        }
    }

    /// Nothing but whitespace is left.
    pub fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(Stop),
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

    /// The span of the string that comes next, and whether it has a backslash escape; not
    /// recorded as a refusal when it is not a string (an object key).
    #[inline(always)]
    fn raw_string(&mut self) -> Result<(Span, bool)> {
        if self.peek() != Some(b'"') {
            return Err(Stop);
        }
        let start = self.at;
        let (end, escaped) = string_end(self.bytes, start)?;
        self.at = end;
        Ok((Span { start, end }, escaped))
    }

    /// The value of a string (its bytes between the quotes, decoded when it has escapes).
    fn decode(&mut self, span: Span, escaped: bool) -> Result<Cow<'a, str>> {
        let text = if escaped {
            serde_json::from_slice::<String>(&self.bytes[span.start..span.end])
                .map(Cow::Owned)
                .ok()
        } else {
            std::str::from_utf8(&self.bytes[span.start + 1..span.end - 1])
                .map(Cow::Borrowed)
                .ok()
        };
        text.ok_or_else(|| self.bad_string(span))
    }

    /// Reads the string that comes next: its value, borrowed when it has no escapes, and its
    /// span (quotes included).
    #[inline(always)]
    pub fn string(&mut self) -> Result<(Cow<'a, str>, Span)> {
        let (span, escaped) = match self.raw_string() {
            Ok(read) => read,
            Err(Stop) => return Err(self.expected("a string")),
        };
        Ok((self.decode(span, escaped)?, span))
    }

    /// Walks the object that comes next, calling `each` with every key (its value, decoded
    /// when it has escapes, as serde_json decodes the keys of the objects it reads: so it must
    /// be UTF-8); `each` must consume the key's value.
    #[inline]
    pub fn object(&mut self, mut each: impl FnMut(&mut Self, &[u8]) -> Result<()>) -> Result<()> {
        let mut more = match self.enter(b'{') {
            Ok(more) => more,
            Err(Stop) => return Err(self.expected("an object")),
        };
        while more {
            let (key, escaped) = self.raw_string()?;
            let decoded;
            let name = if escaped {
                decoded = self.decode(key, true)?;
                decoded.as_bytes()
            } else {
                let text = &self.bytes[key.start + 1..key.end - 1];
                if !text.is_ascii() && std::str::from_utf8(text).is_err() {
                    return Err(self.bad_string(key));
                }
                text
            };
            self.expect(b':')?;
            each(self, name)?;
            more = self.next(b'}')?;
        }
        Ok(())
    }

    /// Walks the object that comes next, reading the fields of `F` with `read` (given the
    /// field) and skipping the others. A field named twice is refused, as serde's derived
    /// readers refuse it. When `read` stops, the field's name joins the path of the refusal.
    #[inline]
    pub fn fields<F: Field>(
        &mut self,
        mut read: impl FnMut(&mut Self, F) -> Result<()>,
    ) -> Result<()> {
        self.fields_named(F::NAMES, |s, i| read(s, F::ALL[i]))
    }

    /// Walks the object that comes next, reading the fields named in `names` with `read`
    /// (given the name) and skipping the others: for names that are data (the steps of a pod
    /// spec path), where [`Scanner::fields`] takes names that are code.
    #[inline]
    pub fn fields_in(
        &mut self,
        names: &[&'static str],
        mut read: impl FnMut(&mut Self, &'static str) -> Result<()>,
    ) -> Result<()> {
        self.fields_named(names, |s, i| read(s, names[i]))
    }

    /// [`Scanner::fields`] over the names themselves: `read` gets the index of the name.
    #[inline(always)]
    fn fields_named(
        &mut self,
        names: &[&'static str],
        mut read: impl FnMut(&mut Self, usize) -> Result<()>,
    ) -> Result<()> {
        // One bit per name: whether it was seen (no object the policy reads has 64 fields).
        let mut seen: u64 = 0;
        self.object(
            |s, key| match names.iter().position(|name| name.as_bytes() == key) {
                Some(i) if seen & (1 << i) == 0 => {
                    seen |= 1 << i;
                    read(s, i).map_err(|Stop| s.within(names[i]))
                }
                Some(i) => Err(s.duplicate(names[i])),
                None => s.skip().map(drop),
            },
        )
    }

    /// Walks the array that comes next, calling `each` with every index; `each` must consume
    /// the element. When `each` stops, the index joins the path of the refusal.
    #[inline]
    pub fn array(&mut self, mut each: impl FnMut(&mut Self, usize) -> Result<()>) -> Result<()> {
        let mut more = match self.enter(b'[') {
            Ok(more) => more,
            Err(Stop) => return Err(self.expected("an array")),
        };
        let mut index = 0;
        while more {
            if let Err(Stop) = each(self, index) {
                self.path.push(Step::Index(index));
                return Err(Stop);
            }
            index += 1;
            more = self.next(b']')?;
        }
        Ok(())
    }

    /// Consumes the opening bracket `open` that comes next; whether an element follows (if
    /// not, the closing bracket is consumed too: in ASCII `}` is two after `{` and `]` two
    /// after `[`, so `open + 2` closes either).
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
            _ => Err(Stop),
        }
    }

    /// Skips the value that comes next, checking it; returns its span.
    pub fn skip(&mut self) -> Result<Span> {
        let start = space(self.bytes, self.at);
        let end = skip_value(self.bytes, start)?;
        self.at = end;
        Ok(Span { start, end })
    }

    /// Why the scanner stopped: the path of the field it was reading (`["request", "object",
    /// "spec"]`, empty at the top) and what is wrong there, worded as serde_json words it
    /// (`invalid type: integer `7`, expected a string`; for malformed JSON, serde_json's own
    /// message, with line and column).
    #[cold]
    pub fn why(&self) -> Why {
        let path = self
            .path
            .iter()
            .rev()
            .map(|step| match step {
                Step::Key(key) => (*key).to_owned(),
                Step::Index(i) => format!("[{i}]"),
            })
            .collect();
        let (message, malformed) = match self.refusal {
            // A value of the wrong type, if it is a whole value (else the JSON is malformed).
            Some(Refusal::Expected(what, at)) if Scanner::at(self.bytes, at).skip().is_ok() => {
                (invalid_type(self.bytes, at, what), false)
            }
            Some(Refusal::Duplicate(key)) => (format!("duplicate field `{key}`"), false),
            Some(Refusal::BadString(span)) => {
                // serde_json's reason, without the position (which is in the string alone).
                let bytes = &self.bytes[span.start..span.end];
                let reason = serde_json::from_slice::<String>(bytes).err().map(|e| {
                    let e = e.to_string();
                    e.split(" at line ").next().unwrap_or("").to_owned()
                });
                let reason = reason.unwrap_or_else(|| "not UTF-8".to_owned());
                (format!("invalid string: {reason}"), false)
            }
            _ => match serde_json::from_slice::<serde::de::IgnoredAny>(self.bytes) {
                Err(e) => (e.to_string(), true),
                Ok(_) => (format!("malformed JSON at byte {}", self.at), true),
            },
        };
        Why {
            path,
            message,
            malformed,
        }
    }
}

/// A serde visitor that accepts nothing: serde_json's error for any value it is given says
/// what the value is and that `what` was expected, in serde_json's words.
struct Expecting(&'static str);

impl serde::de::Visitor<'_> for Expecting {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// `invalid type: integer `7`, expected a string` for the value at `at`, which is not `what`.
fn invalid_type(bytes: &[u8], at: usize, what: &'static str) -> String {
    let mut de = serde_json::Deserializer::from_slice(&bytes[at..]);
    match serde::Deserializer::deserialize_any(&mut de, Expecting(what)) {
        // The position is in the value alone, so it is left out.
        Err(e) => e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or("")
            .to_owned(),
        Ok(()) => format!("expected {what}"),
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
        Err(Stop)
    }
}

/// From the opening quote at `at` to past the closing one; whether there was an escape.
#[inline(always)]
fn string_end(bytes: &[u8], at: usize) -> Result<(usize, bool)> {
    let mut at = at + 1;
    let mut escaped = false;
    loop {
        // A chunk at a time to the first quote, backslash or control character.
        while let Some(chunk) = bytes.get(at..).and_then(<[u8]>::first_chunk::<CHUNK>) {
            if let Some(offset) = first_special(chunk) {
                at += offset;
                break;
            }
            at += CHUNK;
        }
        // The last few bytes (fewer than a chunk), or the stop the chunk loop found.
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
                        _ => return Err(Stop),
                    },
                    _ => return Err(Stop),
                };
            }
            // A control character, or the end of the input.
            _ => return Err(Stop),
        }
    }
}

/// A key in a skipped object at `at` and its colon (not checked for UTF-8, as serde_json).
#[inline(always)]
fn skipped_key(bytes: &[u8], at: usize) -> Result<usize> {
    if bytes.get(at) != Some(&b'"') {
        return Err(Stop);
    }
    let at = space(bytes, string_end(bytes, at)?.0);
    if bytes.get(at) != Some(&b':') {
        return Err(Stop);
    }
    Ok(at + 1)
}

/// Past the value at `at` (no whitespace before it), checking it.
///
/// One loop instead of recursion (no stack to overflow, and one deadline check per turn in
/// wasm): the containers open around the current value are a stack of bits in `open`, the
/// innermost in the low bit, 1 for an object (a key comes after each comma) and 0 for an
/// array, above a sentinel 1. Entering a container shifts its bit in; closing one shifts it
/// out; `open == 1` means none is open. When 63 are open the word is full: it is pushed to
/// `outer` and a fresh word starts, so nesting has no limit, as in serde_json's skip.
fn skip_value(bytes: &[u8], mut at: usize) -> Result<usize> {
    let mut open: u64 = 1;
    let mut outer: Vec<u64> = Vec::new();
    loop {
        // A value.
        let Some(&b) = bytes.get(at) else {
            return Err(Stop);
        };
        match b {
            b'"' => at = string_end(bytes, at)?.0,
            b'{' | b'[' => {
                at = space(bytes, at + 1);
                // An empty container is a whole value: `}` and `]` are two after `{` and `[`.
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
            _ => return Err(Stop),
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
                _ => return Err(Stop),
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
        _ => return Err(Stop),
    }
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        if !digits(&mut at) {
            return Err(Stop);
        }
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        if !digits(&mut at) {
            return Err(Stop);
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;
    use serde::de::IgnoredAny;

    /// The whole document skipped as one value, as serde_json would.
    fn skims(doc: &[u8]) -> bool {
        let mut s = Scanner::new(doc);
        s.skip().is_ok() && s.end().is_ok()
    }

    fn serde_accepts(doc: &[u8]) -> bool {
        serde_json::from_slice::<IgnoredAny>(doc).is_ok()
    }

    #[rstest]
    fn accepts_what_serde_json_accepts(
        #[values(
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
            "{\"a\":1}x"
        )]
        doc: &str,
    ) {
        assert_eq!(
            skims(doc.as_bytes()),
            serde_accepts(doc.as_bytes()),
            "{doc:?}"
        );
    }

    #[test]
    fn invalid_utf8_in_a_skipped_string_is_skipped_as_serde_json_skips_it() {
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
        let doc = b"  [1, {\"a\": \"b\"}] , 2";
        let span = Scanner::new(doc).skip().unwrap();
        assert_eq!(&doc[span.start..span.end], b"[1, {\"a\": \"b\"}]");
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
                assert_eq!(s.string()?.0, "c");
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

    json_fields!(Ab { A = "a", B = "b" });
    json_fields!(Abc { A = "a", B = "b", C = "c" });

    #[test]
    fn named_fields_are_read_once_and_others_skipped() {
        let read = |doc: &[u8]| {
            let mut got = Vec::new();
            Scanner::new(doc)
                .fields(|s, field: Ab| {
                    got.push(field);
                    s.skip().map(drop)
                })
                .map(|()| got)
        };
        assert_eq!(read(br#"{"b":1,"x":[2],"a":"s"}"#), Ok(vec![Ab::B, Ab::A]));
        // A named field twice is refused; an unnamed one is skipped each time, as serde's
        // derived readers do.
        assert_eq!(read(br#"{"a":1,"a":2}"#), Err(Stop));
        assert_eq!(read(br#"{"x":1,"x":2}"#), Ok(vec![]));
    }

    #[rstest]
    #[case::plain(r#""plain""#, Some("plain"))]
    #[case::escapes(r#""caf\u00e9 \"x\"""#, Some("café \"x\""))]
    #[case::surrogate_pair(r#""\ud83d\ude00""#, Some("😀"))]
    #[case::lone_surrogate(r#""\ud83d""#, None)]
    fn strings_are_decoded_as_serde_json_decodes_them(
        #[case] doc: &str,
        #[case] text: Option<&str>,
    ) {
        let mut s = Scanner::new(doc.as_bytes());
        match s.string() {
            Ok((value, span)) => {
                assert_eq!(Some(&*value), text);
                assert_eq!(
                    span,
                    Span {
                        start: 0,
                        end: doc.len()
                    }
                );
            }
            Err(Stop) => {
                assert_eq!(text, None);
                assert_eq!(
                    s.why().message,
                    "invalid string: unexpected end of hex escape"
                );
            }
        }
    }

    #[test]
    fn a_string_that_is_not_utf8_is_refused() {
        let mut s = Scanner::new(b"\"\xff\"");
        assert_eq!(s.string(), Err(Stop));
    }

    #[rstest]
    #[case::number_for_a_string(r#"{"a":7}"#, "a", "invalid type: integer `7`, expected a string")]
    #[case::big_number(
        r#"{"a":18446744073709551615}"#,
        "a",
        "invalid type: integer `18446744073709551615`, expected a string"
    )]
    #[case::negative(r#"{"a":-3}"#, "a", "invalid type: integer `-3`, expected a string")]
    #[case::float(
        r#"{"a":1.5}"#,
        "a",
        "invalid type: floating point `1.5`, expected a string"
    )]
    #[case::out_of_range(r#"{"a":1e400}"#, "a", "number out of range")]
    #[case::boolean(
        r#"{"a":false}"#,
        "a",
        "invalid type: boolean `false`, expected a string"
    )]
    #[case::array_for_an_object(r#"{"b":[]}"#, "b", "invalid type: sequence, expected an object")]
    #[case::string_for_an_array(
        r#"{"c":"x\ny"}"#,
        "c",
        "invalid type: string \"x\\ny\", expected an array"
    )]
    #[case::null_in_an_array(r#"{"c":[null]}"#, "c[0]", "invalid type: null, expected a string")]
    #[case::twice(r#"{"a":"x","a":"y"}"#, "", "duplicate field `a`")]
    #[case::malformed_value(r#"{"a":tru}"#, "a", "expected ident at line 1 column 9")]
    #[case::malformed_after(r#"{"a":"x",}"#, "", "key must be a string at line 1 column 10")]
    fn why_it_stopped_is_worded_as_serde_json_words_it(
        #[case] doc: &str,
        #[case] path: &str,
        #[case] message: &str,
    ) {
        let mut s = Scanner::new(doc.as_bytes());
        let read = s.fields(|s, field| match field {
            Abc::A => s.string().map(drop),
            Abc::B => s.fields_in(&[], |_, _| Ok(())),
            Abc::C => s.array(|s, _| s.string().map(drop)),
        });
        assert_eq!(read, Err(Stop));
        let why = s.why();
        assert_eq!(
            (Why::dotted(&why.path).as_str(), why.message.as_str()),
            (path, message)
        );
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
