//! A span-aware YAML tree, built from `saphyr-parser` events.
//!
//! Validation needs to point at the exact key or value that is wrong, so every node and
//! every mapping key keeps its byte range in the source. Workflow files come from users
//! and from webhooks alike, so the loader is also the first line of defence against
//! abuse: it bounds nesting depth and the total number of nodes (alias expansions
//! included, so a "billion laughs" file fails fast instead of allocating), rejects
//! duplicate keys, non-string keys and multi-document streams. Plain scalars are resolved
//! with the YAML 1.2 core schema (`on:` is a string, `yes` is a string, `0x1F` is 31).

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle};
use serde_json::Value;

/// Deepest nesting of sequences and mappings a file may have.
pub const MAX_DEPTH: usize = 64;
/// Most nodes a file may produce, counting every alias expansion.
pub const MAX_NODES: usize = 100_000;

/// A byte range in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (bytes).
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start,
            end: end.max(start),
        }
    }

    /// The byte range.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// A mapping key: its text and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key as a string.
    pub name: String,
    /// Where the key is written.
    pub span: Span,
}

/// A YAML value with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value is written (for collections, from their first to their last byte).
    pub span: Span,
    /// The value.
    pub value: NodeValue,
}

/// The value of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// `null`, `~` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A decimal, `.inf` or `.nan`.
    Float(f64),
    /// Text: quoted scalars, block scalars and plain scalars that are nothing else.
    String(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order, with unique string keys.
    Map(Vec<(Key, Node)>),
}

impl Node {
    /// The entry under `key`, when this is a map that has it.
    pub fn entry(&self, key: &str) -> Option<(&Key, &Node)> {
        match &self.value {
            NodeValue::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.name == key)
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The value under `key`, when this is a map that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The value at a path of map keys.
    pub fn get_path(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, key| node.get(key))
    }

    /// The text, when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The entries, when this is a map.
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            NodeValue::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items, when this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            NodeValue::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// Whether this is `null` (or an empty value).
    pub fn is_null(&self) -> bool {
        matches!(self.value, NodeValue::Null)
    }

    /// What kind of value this is, with an article, for messages: "a string", "a list".
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "nothing (null)",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a number",
            NodeValue::String(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a map",
        }
    }

    /// The value as JSON. NaN and infinities, which JSON cannot hold, become `null`.
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Why a text could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Stable kebab-case id: `yaml-syntax`, `duplicate-key`, `too-deep`, `too-many-nodes`,
    /// `non-string-key`, `multiple-documents`, `unknown-alias`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
    /// An extra hint for the reader.
    pub help: Option<String>,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (bytes {}..{})",
            self.message, self.span.start, self.span.end
        )
    }
}

impl std::error::Error for YamlError {}

/// Converts the parser's character indices to byte offsets. Events arrive almost in
/// order, so a cursor that walks from the last position costs little; ASCII text (the
/// common case) needs no walking at all.
struct Offsets<'a> {
    text: &'a str,
    ascii: bool,
    char_idx: usize,
    byte_idx: usize,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        Offsets {
            text,
            ascii: text.is_ascii(),
            char_idx: 0,
            byte_idx: 0,
        }
    }

    fn byte(&mut self, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.text.len());
        }
        while self.char_idx < char_index {
            match self.text[self.byte_idx..].chars().next() {
                Some(c) => {
                    self.byte_idx += c.len_utf8();
                    self.char_idx += 1;
                }
                None => return self.text.len(),
            }
        }
        while self.char_idx > char_index {
            match self.text[..self.byte_idx].chars().next_back() {
                Some(c) => {
                    self.byte_idx -= c.len_utf8();
                    self.char_idx -= 1;
                }
                None => break,
            }
        }
        self.byte_idx
    }

    fn span(&mut self, start: Marker, end: Marker) -> Span {
        let s = self.byte(start.index());
        let e = self.byte(end.index());
        Span::new(s, e)
    }

    /// A span of one character at `mark`, so that a caret has something to point at.
    fn point(&mut self, mark: Marker) -> Span {
        let s = self.byte(mark.index());
        let len = self.text[s..].chars().next().map_or(0, char::len_utf8);
        Span::new(s, s + len)
    }
}

/// A collection being built.
enum Frame {
    Seq {
        start: usize,
        anchor: usize,
        nodes_before: usize,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        anchor: usize,
        nodes_before: usize,
        entries: Vec<(Key, Node)>,
        pending: Option<Key>,
        seen: HashMap<String, Span>,
    },
}

struct Builder<'a> {
    text: &'a str,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    root: Option<Node>,
}

impl Builder<'_> {
    fn count(&mut self, n: usize, span: Span) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                code: "too-many-nodes",
                message: format!(
                    "the document has more than {MAX_NODES} values, counting alias expansions"
                ),
                span,
                help: Some(
                    "a workflow this large is almost certainly a mistake or an alias bomb".into(),
                ),
            });
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame, span: Span) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError {
                code: "too-deep",
                message: format!("values are nested more than {MAX_DEPTH} levels deep"),
                span,
                help: None,
            });
        }
        self.count(1, span)?;
        self.stack.push(frame);
        Ok(())
    }

    /// Attach a finished node to its parent, or make it the root.
    fn finish(&mut self, node: Node, anchor: usize, size: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map {
                entries,
                pending,
                seen,
                ..
            }) => match pending.take() {
                Some(key) => {
                    entries.push((key, node));
                    Ok(())
                }
                None => {
                    let name = match node.value {
                        NodeValue::String(s) => s,
                        _ => {
                            let text = self.text.get(node.span.range()).unwrap_or("").trim();
                            return Err(YamlError {
                                code: "non-string-key",
                                message: format!(
                                    "mapping keys must be strings, found {}",
                                    node.kind_name()
                                ),
                                span: node.span,
                                help: (!text.is_empty() && !text.contains('\n'))
                                    .then(|| format!("quote the key: \"{text}\"")),
                            });
                        }
                    };
                    if let Some(first) = seen.get(&name) {
                        let line = line_col(self.text, first.start).0;
                        return Err(YamlError {
                            code: "duplicate-key",
                            message: format!("duplicate key `{name}`"),
                            span: node.span,
                            help: Some(format!("`{name}` is already defined on line {line}")),
                        });
                    }
                    seen.insert(name.clone(), node.span);
                    *pending = Some(Key {
                        name,
                        span: node.span,
                    });
                    Ok(())
                }
            },
        }
    }
}

/// The 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// Resolve a plain scalar with the YAML 1.2 core schema.
pub fn resolve_plain(s: &str) -> NodeValue {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "true" | "True" | "TRUE" => return NodeValue::Bool(true),
        "false" | "False" | "FALSE" => return NodeValue::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeValue::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return NodeValue::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeValue::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = s.strip_prefix("0x") {
        if !hex.is_empty()
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
            && let Ok(i) = i64::from_str_radix(hex, 16)
        {
            return NodeValue::Int(i);
        }
        return NodeValue::String(s.to_string());
    }
    if let Some(oct) = s.strip_prefix("0o") {
        if !oct.is_empty()
            && oct.bytes().all(|b| (b'0'..=b'7').contains(&b))
            && let Ok(i) = i64::from_str_radix(oct, 8)
        {
            return NodeValue::Int(i);
        }
        return NodeValue::String(s.to_string());
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<i64>() {
            Ok(i) => NodeValue::Int(i),
            Err(_) => s
                .parse::<f64>()
                .map_or_else(|_| NodeValue::String(s.to_string()), NodeValue::Float),
        };
    }
    if is_core_float(digits)
        && let Ok(f) = s.parse::<f64>()
    {
        return NodeValue::Float(f);
    }
    NodeValue::String(s.to_string())
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` without the sign.
fn is_core_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

/// Parse one YAML document into a tree. An empty text gives a `Null` node.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut offsets = Offsets::new(text);
    let mut b = Builder {
        text,
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        root: None,
    };
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = match event {
            Ok(ev) => ev,
            Err(e) => {
                return Err(YamlError {
                    code: "yaml-syntax",
                    message: format!("invalid YAML: {}", e.info()),
                    span: offsets.point(*e.marker()),
                    help: text.contains('\t').then(|| {
                        "YAML does not allow tabs for indentation; use spaces".to_string()
                    }),
                });
            }
        };
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError {
                        code: "multiple-documents",
                        message: "a workflow file holds one YAML document, found a second one"
                            .into(),
                        span: match offsets.span(span.start, span.end) {
                            sp if sp.start < sp.end => sp,
                            _ => offsets.point(span.start),
                        },
                        help: Some("put each workflow in its own file".into()),
                    });
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let sp = offsets.span(span.start, span.end);
                b.count(1, sp)?;
                let is_str_tag = tag
                    .as_ref()
                    .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let value = match style {
                    ScalarStyle::Plain if !is_str_tag => resolve_plain(&value),
                    _ => NodeValue::String(value.into_owned()),
                };
                b.finish(Node { span: sp, value }, anchor, 1)?;
            }
            Event::Alias(id) => {
                let sp = offsets.span(span.start, span.end);
                let Some(size) = b.anchors.get(&id).map(|(_, size)| *size) else {
                    return Err(YamlError {
                        code: "unknown-alias",
                        message: "this alias refers to no anchor defined before it".into(),
                        span: sp,
                        help: None,
                    });
                };
                // Count before cloning: an alias bomb must fail here, not allocate.
                b.count(size, sp)?;
                let value = b
                    .anchors
                    .get(&id)
                    .map_or(NodeValue::Null, |(node, _)| node.value.clone());
                b.finish(Node { span: sp, value }, 0, size)?;
            }
            Event::SequenceStart(anchor, _) => {
                let sp = offsets.span(span.start, span.end);
                let frame = Frame::Seq {
                    start: sp.start,
                    anchor,
                    nodes_before: b.nodes,
                    items: Vec::new(),
                };
                b.open(frame, sp)?;
            }
            Event::MappingStart(anchor, _) => {
                let sp = offsets.span(span.start, span.end);
                let frame = Frame::Map {
                    start: sp.start,
                    anchor,
                    nodes_before: b.nodes,
                    entries: Vec::new(),
                    pending: None,
                    seen: HashMap::new(),
                };
                b.open(frame, sp)?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let end_span = offsets.span(span.start, span.end);
                let (node, anchor, size) = match b.stack.pop() {
                    Some(Frame::Seq {
                        start,
                        anchor,
                        nodes_before,
                        items,
                    }) => {
                        let end =
                            collection_end(text, start, end_span, items.last().map(|n| n.span.end));
                        (
                            Node {
                                span: Span::new(start, end),
                                value: NodeValue::Seq(items),
                            },
                            anchor,
                            b.nodes - nodes_before,
                        )
                    }
                    Some(Frame::Map {
                        start,
                        anchor,
                        nodes_before,
                        entries,
                        ..
                    }) => {
                        let end = collection_end(
                            text,
                            start,
                            end_span,
                            entries.last().map(|(_, n)| n.span.end),
                        );
                        (
                            Node {
                                span: Span::new(start, end),
                                value: NodeValue::Map(entries),
                            },
                            anchor,
                            b.nodes - nodes_before,
                        )
                    }
                    None => continue,
                };
                b.finish(node, anchor, size)?;
            }
        }
    }
    Ok(b.root.unwrap_or(Node {
        span: Span::default(),
        value: NodeValue::Null,
    }))
}

/// Where a collection ends: after its closing bracket for flow style, after its last
/// child for block style (the parser's end event for a block sits on the next token,
/// possibly lines below, which would make carets sprawl).
fn collection_end(text: &str, start: usize, end_event: Span, last_child: Option<usize>) -> usize {
    let flow = matches!(text.as_bytes().get(start), Some(b'[' | b'{'));
    if flow {
        end_event.end.max(start)
    } else {
        last_child.unwrap_or(end_event.start).max(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Node {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn err(text: &str) -> YamlError {
        match parse(text) {
            Ok(n) => panic!("expected an error for {text:?}, got {n:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn resolves_core_schema_scalars() {
        assert_eq!(resolve_plain("on"), NodeValue::String("on".into()));
        assert_eq!(resolve_plain("yes"), NodeValue::String("yes".into()));
        assert_eq!(resolve_plain("~"), NodeValue::Null);
        assert_eq!(resolve_plain("TRUE"), NodeValue::Bool(true));
        assert_eq!(resolve_plain("-42"), NodeValue::Int(-42));
        assert_eq!(resolve_plain("0x1F"), NodeValue::Int(31));
        assert_eq!(resolve_plain("0o17"), NodeValue::Int(15));
        assert_eq!(resolve_plain("1.5e3"), NodeValue::Float(1500.0));
        assert_eq!(resolve_plain(".5"), NodeValue::Float(0.5));
        assert_eq!(resolve_plain("1."), NodeValue::Float(1.0));
        assert_eq!(resolve_plain("10m"), NodeValue::String("10m".into()));
        assert_eq!(resolve_plain("1e"), NodeValue::String("1e".into()));
        assert_eq!(resolve_plain("0x"), NodeValue::String("0x".into()));
        assert!(matches!(resolve_plain(".nan"), NodeValue::Float(f) if f.is_nan()));
        assert_eq!(
            resolve_plain("99999999999999999999"),
            NodeValue::Float(1e20)
        );
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let n = ok("a: '1'\nb: \"true\"\nc: !!str 3\nd: 3\n");
        assert_eq!(n.get("a").and_then(Node::as_str), Some("1"));
        assert_eq!(n.get("b").and_then(Node::as_str), Some("true"));
        assert_eq!(n.get("c").and_then(Node::as_str), Some("3"));
        assert_eq!(n.get("d").map(|n| &n.value), Some(&NodeValue::Int(3)));
    }

    #[test]
    fn spans_are_byte_offsets_even_after_multibyte_text() {
        let text = "é: ünï\nkey: value\n";
        let n = ok(text);
        let (k, v) = n.entry("key").unwrap();
        assert_eq!(&text[k.span.range()], "key");
        assert_eq!(&text[v.span.range()], "value");
        assert_eq!(line_col(text, v.span.start), (2, 6));
    }

    #[test]
    fn block_collection_spans_end_at_last_child() {
        let text = "steps:\n  a:\n    uses: x\n\n# trailing\nname: n\n";
        let n = ok(text);
        let steps = n.get("steps").unwrap();
        assert_eq!(&text[steps.span.range()], "a:\n    uses: x");
        let flow = ok("x: [1, 2]\n");
        assert_eq!(flow.get("x").unwrap().span, Span::new(3, 9));
    }

    #[test]
    fn to_json_keeps_order_and_types() {
        let n = ok("b: 1\na: [x, 2.5, null, true]\n");
        assert_eq!(
            n.to_json().to_string(),
            r#"{"b":1,"a":["x",2.5,null,true]}"#
        );
    }

    #[test]
    fn duplicate_keys_name_the_first() {
        let text = "a: 1\nb: 2\na: 3\n";
        let e = err(text);
        assert_eq!(e.code, "duplicate-key");
        assert_eq!(&text[e.span.range()], "a");
        assert_eq!(e.span.start, 10);
        assert_eq!(e.help.as_deref(), Some("`a` is already defined on line 1"));
    }

    #[test]
    fn non_string_keys_are_rejected() {
        let e = err("1: a\n");
        assert_eq!(e.code, "non-string-key");
        assert_eq!(e.help.as_deref(), Some("quote the key: \"1\""));
        assert_eq!(err("[a]: b\n").code, "non-string-key");
        assert!(parse("'1': a\n").is_ok());
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(err(&deep).code, "too-deep");
        let fine = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn alias_bombs_fail_fast() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let started = std::time::Instant::now();
        let e = err(&text);
        assert_eq!(e.code, "too-many-nodes");
        // Generous: only a real expansion would take seconds.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn aliases_expand_within_budget() {
        let n = ok("base: &b {x: 1}\nuse: *b\n");
        assert_eq!(
            n.get_path(&["use", "x"]).map(|n| &n.value),
            Some(&NodeValue::Int(1))
        );
        assert_eq!(err("a: *nope\n").code, "yaml-syntax");
    }

    #[test]
    fn one_document_only() {
        assert_eq!(err("a: 1\n---\nb: 2\n").code, "multiple-documents");
        assert!(parse("---\na: 1\n").is_ok());
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let text = "a:\n\tb: 1\n";
        let e = err(text);
        assert_eq!(e.code, "yaml-syntax");
        assert!(e.help.unwrap().contains("tabs"));
        assert_eq!(line_col(text, e.span.start).0, 2);
    }

    #[test]
    fn empty_text_is_null() {
        assert!(ok("").is_null());
        assert!(ok("# only a comment\n").is_null());
    }
}
