//! A YAML reader that keeps the line and column of every node, and a serde `Deserializer` over
//! it that records errors and keeps going.
//!
//! Why not `serde_yaml`: `mailauth-probe check-config FILE` must print *every* error of a config in
//! one run, each with its line, column and key path (as `promtool check config` does): an unknown
//! key, a bad duration and an inline password in one file are three errors, not one. `serde_yaml`
//! stops at the first error and keeps no position per node. So the typed config structs keep
//! their serde derives, but are deserialized from our own marked tree:
//!
//! 1. [`parse`] (or [`parse_collect`]) turns the text into a [`Node`] tree with yaml-rust2's event
//!    parser. Every node carries its [`Mark`] (1-based line and column). Scalars stay text plus a
//!    `quoted` flag; they are typed later, by what the target type asks for. Duplicate keys are
//!    diagnostics, aliases are resolved (with a size limit), and a second document is refused.
//! 2. [`deserialize`] runs a `T: Deserialize` over a node. Unknown keys, type mismatches at leaves
//!    and everything passed to [`report`] become [`Diagnostic`]s, and deserialization continues
//!    with a placeholder value, so one call finds every such error. It returns `Some(value)` only
//!    when nothing was recorded.
//!
//! What continues and what aborts (inside one [`deserialize`] call):
//! - Continues: unknown keys (skipped, never shown to the visitor), type mismatches of scalars,
//!   sequences and maps (a placeholder `0`, `false`, `""`, empty sequence or map is visited
//!   instead), integers out of range, too many tuple elements, a value given to a unit variant,
//!   [`report`]ed problems (the custom type returns its own placeholder).
//! - Aborts: a `Deserialize` impl returning `Err`, a missing required key, an unknown enum variant,
//!   a placeholder the target rejects (e.g. a struct with required keys where a string was
//!   written). The error is recorded once, at the innermost node where it happens (with that
//!   node's path), and then propagates up: the struct or sequence holding that node stops there,
//!   so the keys and elements after it, in it and in every enclosing container, are not checked
//!   in that call. (A missing required key is found only after all keys of its struct were
//!   checked.) Callers that want isolation call [`deserialize`] once per independent part, e.g.
//!   once per `probes[i]` entry, and get `None` for the broken parts only.
//!
//! Scalars follow the YAML 1.2 core schema: plain `null`, `~` or nothing is null; `true`/`false`;
//! decimal, `0x` and `0o` integers; floats (including `.inf`, `.nan`). Quoted and block scalars
//! (and `!!str`) are always strings. A string target accepts any scalar as written (`name: 123`).
//!
//! Limits: serde's buffering features (`#[serde(flatten)]`, internally tagged and untagged enums)
//! deserialize through serde's own in-memory copy, so errors inside them are reported at the
//! enclosing node, and `flatten` turns off the unknown-key check for that struct. Use
//! [`Keys::Only`] / [`Keys::Except`] to split one map into several structs instead. Merge keys
//! (`<<`) and tags other than the core schema's are not supported. Every struct rejects unknown
//! keys, whether or not it says `deny_unknown_fields`. In an untagged enum, a [`report`] made
//! while serde tries a variant stays even if another variant is then chosen.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, Expected, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in the config text. Both numbers start at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub line: usize,
    pub column: usize,
}

impl Mark {
    fn key(self) -> (usize, usize) {
        (self.line, self.column)
    }
}

impl From<Marker> for Mark {
    fn from(marker: Marker) -> Self {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Mark {
            line: marker.line(),
            column: marker.col() + 1,
        }
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One problem in a config: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Key path such as `probes[1].interval` or `global.timeout`; empty for the document root.
    pub path: String,
    pub mark: Mark,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `{line}:{column}: {path}: {message}`, or `{line}:{column}: {message}` at the root.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.mark, self.message)
        } else {
            write!(f, "{}: {}: {}", self.mark, self.path, self.message)
        }
    }
}

impl std::error::Error for Diagnostic {}

/// The value of a [`Node`]. Scalars are kept as written; they get a type when deserialized.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Plain `null`, `~`, or no value at all.
    Null,
    /// Any other scalar. `quoted` is true for quoted and block (`|`, `>`) scalars and for `!!str`:
    /// those are always strings.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    /// Entries in document order; keys are unique (a duplicate key is a diagnostic and dropped).
    Map(Vec<(Node, Node)>),
}

/// A YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub mark: Mark,
}

impl Node {
    /// The value of the map entry with this (scalar) key.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The text of a scalar, quoted or not (`None` for null, sequences and maps).
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Most nodes that aliases may add to a document, against "billion laughs" expansion.
const ALIAS_EXPANSION_LIMIT: usize = 100_000;

/// Deepest nesting of sequences and maps: serde and `Drop` recurse once per level.
const DEPTH_LIMIT: usize = 64;

/// Parses one YAML document. Any diagnostic (syntax error, duplicate key, second document,
/// unsupported tag) makes it fail; all of them are returned, in document order. An empty
/// document is [`Value::Null`]. Use [`parse_collect`] to go on deserializing after diagnostics
/// that leave a usable tree.
///
/// # Errors
/// Every diagnostic found, in document order (never empty).
pub fn parse(text: &str) -> Result<Node, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    match parse_collect(text, &mut diags) {
        Some(node) if diags.is_empty() => Ok(node),
        _ => Err(diags),
    }
}

/// Parses one YAML document, appending diagnostics to `diags` in document order.
///
/// Returns the tree unless there was a syntax error (the parser cannot go on after one, so it is
/// the last diagnostic) or the nesting is deeper than 64 levels. After a duplicate key the first occurrence is kept; after an unsupported
/// tag the tag is ignored; a second document is ignored. So the caller can still deserialize the
/// tree and report every error in one run.
pub fn parse_collect(text: &str, diags: &mut Vec<Diagnostic>) -> Option<Node> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    let result = parser.load(&mut builder, true);
    let mut found = std::mem::take(&mut builder.diags);
    if let Err(error) = &result {
        // yaml-rust2 places an error at the end of the stream one line further down (after
        // the line break it assumes there): a line that a file without a final line break
        // does not have. Such a place is the end of the text.
        let mut mark = Mark::from(*error.marker());
        let end = end_mark(text);
        if mark.key() > end.key() {
            mark = end;
        }
        found.push(Diagnostic {
            path: builder.child_path(),
            mark,
            message: syntax_message(error.info()),
        });
    }
    // The same for what the builder found (an unsupported tag on an empty last value).
    let end = end_mark(text);
    for d in &mut found {
        if d.mark.key() > end.key() {
            d.mark = end;
        }
    }
    found.sort_by_key(|d| d.mark.key());
    diags.extend(found);
    if result.is_err() || builder.too_deep {
        return None;
    }
    let mut root = builder.root.unwrap_or(Node {
        value: Value::Null,
        mark: Mark { line: 1, column: 1 },
    });
    // An empty value at the very end (`key:` or `&anchor` as the last thing in a file
    // without a final line break) gets the same one-line-too-far place: pull it back.
    clamp_marks(&mut root, end_mark(text));
    Some(root)
}

/// Moves every mark after `end` to `end`, so each diagnostic points inside the text.
fn clamp_marks(node: &mut Node, end: Mark) {
    if node.mark.key() > end.key() {
        node.mark = end;
    }
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(|n| clamp_marks(n, end)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            clamp_marks(k, end);
            clamp_marks(v, end);
        }),
        _ => {}
    }
}

/// The place just after the last character, counted as yaml-rust2 counts (CRLF, CR and LF
/// are line breaks; columns are characters).
fn end_mark(text: &str) -> Mark {
    let mut end = Mark { line: 1, column: 1 };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' | '\n' => {
                end = Mark {
                    line: end.line + 1,
                    column: 1,
                }
            }
            _ => end.column += 1,
        }
    }
    end
}

fn syntax_message(info: &str) -> String {
    let hint = if info.contains("mapping values are not allowed") {
        " (check the indentation, and quote values that contain `: `)"
    } else if info.contains("did not find expected key") || info.contains("indentation") {
        " (check the indentation)"
    } else {
        ""
    };
    format!("YAML syntax error: {info}{hint}")
}

enum Frame {
    Seq {
        mark: Mark,
        anchor: usize,
        path: String,
        items: Vec<Node>,
    },
    Map {
        mark: Mark,
        anchor: usize,
        path: String,
        entries: Vec<(Node, Node)>,
        /// Where each scalar or null key of `entries` is (`None` for null): finds a duplicate
        /// without scanning `entries`, which made a 10,000-entry map quadratic.
        seen: HashMap<Option<String>, Mark>,
        /// The key whose value comes next.
        key: Option<Node>,
        /// The pending key is a duplicate: drop its value.
        skip_value: bool,
    },
}

/// Builds the [`Node`] tree from parser events.
#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
    expanded: usize,
    documents: usize,
    /// Set after a second document starts: everything after it is ignored.
    ignore: bool,
    /// Set when nesting went too deep: the tree is unusable.
    too_deep: bool,
    diags: Vec<Diagnostic>,
}

impl Builder {
    /// Path of the node that would come next.
    fn child_path(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Seq { path, items, .. }) => join_index(path, items.len()),
            Some(Frame::Map {
                path, key: Some(k), ..
            }) => join_key(path, &key_label(k)),
            Some(Frame::Map { path, .. }) => path.clone(),
        }
    }

    fn diag(&mut self, path: String, mark: Mark, message: String) {
        self.diags.push(Diagnostic {
            path,
            mark,
            message,
        });
    }

    fn check_tag(&mut self, tag: Option<&Tag>, allowed: &[&str], mark: Mark) -> Option<String> {
        let tag = tag?;
        if tag.handle == "tag:yaml.org,2002:" && allowed.contains(&tag.suffix.as_str()) {
            return Some(tag.suffix.clone());
        }
        let shown = if tag.handle == "tag:yaml.org,2002:" {
            format!("!!{}", tag.suffix)
        } else {
            format!("{}{}", tag.handle, tag.suffix)
        };
        let path = self.child_path();
        self.diag(
            path,
            mark,
            format!("unsupported YAML tag `{shown}` (remove it)"),
        );
        None
    }

    /// Completes a node: remembers its anchor and adds it to its parent.
    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        self.insert(node);
    }

    fn insert(&mut self, node: Node) {
        let Builder {
            stack, root, diags, ..
        } = self;
        match stack.last_mut() {
            None => {
                if root.is_none() {
                    *root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                path,
                entries,
                seen,
                key,
                skip_value,
                ..
            }) => match key.take() {
                None => {
                    let first = match &node.value {
                        Value::Null => seen.get(&None).copied(),
                        Value::Scalar { text, .. } => seen.get(&Some(text.clone())).copied(),
                        Value::Seq(_) | Value::Map(_) => None,
                    };
                    if let Some(first) = first {
                        diags.push(Diagnostic {
                            path: join_key(path, &key_label(&node)),
                            mark: node.mark,
                            message: format!(
                                "duplicate key `{}` (first given at line {}, column {}; \
                                 this one is ignored)",
                                key_label(&node),
                                first.line,
                                first.column
                            ),
                        });
                        *skip_value = true;
                    }
                    *key = Some(node);
                }
                Some(k) => {
                    if std::mem::take(skip_value) {
                        return;
                    }
                    match &k.value {
                        Value::Null => {
                            seen.insert(None, k.mark);
                        }
                        Value::Scalar { text, .. } => {
                            seen.insert(Some(text.clone()), k.mark);
                        }
                        Value::Seq(_) | Value::Map(_) => {}
                    }
                    entries.push((k, node));
                }
            },
        }
    }

    /// For `key:` with nothing after it the parser marks the empty value where the next token
    /// is (often the next line); point at the key instead.
    fn empty_value_mark(&self, mark: Mark) -> Mark {
        match self.stack.last() {
            Some(Frame::Map { key: Some(k), .. }) => k.mark,
            _ => mark,
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        if self.ignore {
            return;
        }
        let mark = Mark::from(marker);
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.diag(
                        String::new(),
                        mark,
                        "only one YAML document is allowed in a config file (remove this `---` \
                         and what follows, or merge it into the first document)"
                            .to_owned(),
                    );
                    self.ignore = true;
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let mut quoted = style != TScalarStyle::Plain;
                let tag =
                    self.check_tag(tag.as_ref(), &["str", "null", "bool", "int", "float"], mark);
                if tag.as_deref() == Some("str") {
                    quoted = true;
                }
                let (value, mark) = if quoted {
                    (Value::Scalar { text, quoted }, mark)
                } else if text.is_empty() {
                    (Value::Null, self.empty_value_mark(mark))
                } else if matches!(resolve_plain(&text), Scalar::Null) {
                    (Value::Null, mark)
                } else {
                    (Value::Scalar { text, quoted }, mark)
                };
                self.finish(Node { value, mark }, anchor);
            }
            Event::Alias(id) => {
                let node = match self.anchors.get(&id) {
                    Some(node) => {
                        let size = count_nodes(node);
                        if self.expanded + size > ALIAS_EXPANSION_LIMIT {
                            None
                        } else {
                            self.expanded += size;
                            Some(Node {
                                value: node.value.clone(),
                                mark,
                            })
                        }
                    }
                    None => None,
                };
                let node = node.unwrap_or_else(|| {
                    let message = if self.anchors.contains_key(&id) {
                        format!(
                            "aliases expand to more than {ALIAS_EXPANSION_LIMIT} nodes; \
                             write the values out"
                        )
                    } else {
                        "alias to an unknown anchor".to_owned()
                    };
                    let path = self.child_path();
                    self.diag(path, mark, message);
                    Node {
                        value: Value::Null,
                        mark,
                    }
                });
                self.insert(node);
            }
            Event::SequenceStart(..) | Event::MappingStart(..)
                if self.stack.len() >= DEPTH_LIMIT =>
            {
                let path = self.child_path();
                let message = format!("nesting is deeper than {DEPTH_LIMIT} levels");
                self.diag(path, mark, message);
                self.too_deep = true;
                self.ignore = true;
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_tag(tag.as_ref(), &["seq"], mark);
                let path = self.child_path();
                self.stack.push(Frame::Seq {
                    mark,
                    anchor,
                    path,
                    items: Vec::new(),
                });
            }
            Event::MappingStart(anchor, tag) => {
                self.check_tag(tag.as_ref(), &["map"], mark);
                let path = self.child_path();
                self.stack.push(Frame::Map {
                    mark,
                    anchor,
                    path,
                    entries: Vec::new(),
                    seen: HashMap::new(),
                    key: None,
                    skip_value: false,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq {
                        mark,
                        anchor,
                        items,
                        ..
                    }) => {
                        let mark = earliest(mark, items.first().map(|n| n.mark));
                        (
                            Node {
                                value: Value::Seq(items),
                                mark,
                            },
                            anchor,
                        )
                    }
                    Some(Frame::Map {
                        mark,
                        anchor,
                        entries,
                        ..
                    }) => {
                        // A block mapping "starts" at its first `:`; its first key is earlier.
                        let mark = earliest(mark, entries.first().map(|(k, _)| k.mark));
                        (
                            Node {
                                value: Value::Map(entries),
                                mark,
                            },
                            anchor,
                        )
                    }
                    None => return,
                };
                self.finish(node, anchor);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

fn earliest(mark: Mark, other: Option<Mark>) -> Mark {
    match other {
        Some(other) if other.key() < mark.key() => other,
        _ => mark,
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Null | Value::Scalar { .. } => 0,
        Value::Seq(items) => items.iter().map(count_nodes).sum(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| count_nodes(k) + count_nodes(v))
            .sum(),
    }
}

/// How a key is shown in paths and messages.
fn key_label(key: &Node) -> String {
    match &key.value {
        Value::Scalar { text, .. } => text.clone(),
        Value::Null => "~".to_owned(),
        Value::Seq(_) | Value::Map(_) => "?".to_owned(),
    }
}

fn join_key(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || "_-./:@+".contains(c));
    let segment = if plain {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if path.is_empty() {
        segment
    } else {
        format!("{path}.{segment}")
    }
}

fn join_index(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

// ---------------------------------------------------------------------------------------------
// The YAML 1.2 core schema
// ---------------------------------------------------------------------------------------------

/// What a scalar means under the core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scalar<'a> {
    Null,
    Bool(bool),
    /// `None`: an integer too large for `i128`.
    Int(Option<i128>),
    Float(f64),
    Str(&'a str),
}

fn resolve(node: &Node) -> Option<Scalar<'_>> {
    match &node.value {
        Value::Null => Some(Scalar::Null),
        Value::Scalar { text, quoted: true } => Some(Scalar::Str(text)),
        Value::Scalar {
            text,
            quoted: false,
        } => Some(resolve_plain(text)),
        Value::Seq(_) | Value::Map(_) => None,
    }
}

fn resolve_plain(text: &str) -> Scalar<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8)] {
        if let Some(digits) = text.strip_prefix(prefix)
            && !digits.is_empty()
            && digits.chars().all(|c| c.is_digit(radix))
        {
            return Scalar::Int(i128::from_str_radix(digits, radix).ok());
        }
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return Scalar::Int(text.parse().ok());
    }
    if is_core_float(unsigned)
        && let Ok(value) = text.parse()
    {
        return Scalar::Float(value);
    }
    Scalar::Str(text)
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, the sign already removed.
fn is_core_float(text: &str) -> bool {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            digits(int) == int.len()
                && digits(frac) == frac.len()
                && (if int.is_empty() {
                    !frac.is_empty()
                } else {
                    true
                })
        }
        None => !mantissa.is_empty() && digits(mantissa) == mantissa.len(),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e) == e.len()
    });
    mantissa_ok && exponent_ok
}

/// "found ..." text for a node.
fn describe(node: &Node) -> String {
    match (&node.value, resolve(node)) {
        (Value::Seq(_), _) => "a sequence".to_owned(),
        (Value::Map(_), _) => "a mapping".to_owned(),
        (_, Some(Scalar::Null) | None) => "null (no value)".to_owned(),
        (_, Some(Scalar::Bool(b))) => format!("boolean `{b}`"),
        (_, Some(Scalar::Int(_))) => format!("integer `{}`", node.as_str().unwrap_or_default()),
        (_, Some(Scalar::Float(_))) => format!("float `{}`", node.as_str().unwrap_or_default()),
        (_, Some(Scalar::Str(s))) => format!("string {s:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The diagnostic sink
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Collector {
    diags: Vec<Diagnostic>,
    /// The nodes whose `Deserialize` is running, innermost last, with how many diagnostics
    /// existed when each started.
    current: Vec<(String, Mark, usize)>,
    /// Above 0 while a placeholder is visited after a recorded mismatch: whatever goes wrong
    /// with the placeholder is a consequence, not a new error.
    suppress: usize,
}

thread_local! {
    static COLLECTOR: RefCell<Option<Collector>> = const { RefCell::new(None) };
}

fn with_collector<R>(f: impl FnOnce(&mut Collector) -> R) -> Option<R> {
    COLLECTOR.with(|cell| cell.borrow_mut().as_mut().map(f))
}

fn record(path: &str, mark: Mark, message: String) {
    with_collector(|c| {
        if c.suppress == 0 {
            c.diags.push(Diagnostic {
                path: path.to_owned(),
                mark,
                message,
            });
        }
    });
}

/// Records a problem at the node being deserialized, for a custom `Deserialize` impl that then
/// returns a placeholder so deserialization continues (see [`HumanDuration`]).
///
/// Only has an effect while [`deserialize`] runs on this thread (see [`collecting`]); elsewhere it
/// does nothing. It also adds nothing when this node already has a diagnostic (e.g. a type
/// mismatch, after which the impl sees a placeholder such as `""`).
pub fn report(message: impl fmt::Display) {
    if !collecting() {
        return;
    }
    // Formatted before the collector is borrowed: a Display impl may do anything.
    let message = message.to_string();
    with_collector(|c| {
        if c.suppress > 0 {
            return;
        }
        let Some((path, mark, before)) = c.current.last() else {
            return;
        };
        if c.diags[*before..].iter().any(|d| &d.path == path) {
            return;
        }
        let diag = Diagnostic {
            path: path.clone(),
            mark: *mark,
            message,
        };
        c.diags.push(diag);
    });
}

/// Whether [`report`] records anything: true while [`deserialize`] runs on this thread. A custom
/// `Deserialize` impl used elsewhere too (e.g. with `serde_json`) should return `Err` when false.
#[must_use]
pub fn collecting() -> bool {
    with_collector(|_| ()).is_some()
}

/// Installs a fresh collector; restores the previous one (nested [`deserialize`]) when done.
struct Session {
    previous: Option<Collector>,
    finished: bool,
}

impl Session {
    fn start() -> Session {
        let previous = COLLECTOR.with(|cell| cell.replace(Some(Collector::default())));
        Session {
            previous,
            finished: false,
        }
    }

    fn finish(mut self) -> Vec<Diagnostic> {
        self.finished = true;
        let previous = self.previous.take();
        COLLECTOR
            .with(|cell| cell.replace(previous))
            .map(|c| c.diags)
            .unwrap_or_default()
    }
}

impl Drop for Session {
    /// Also runs when a `Deserialize` impl panics, so the thread is left as it was.
    fn drop(&mut self) {
        if !self.finished {
            let previous = self.previous.take();
            COLLECTOR.with(|cell| cell.replace(previous));
        }
    }
}

/// Marks a node as the one being deserialized, for [`report`].
struct Scope;

impl Scope {
    fn enter(path: &str, mark: Mark) -> Scope {
        with_collector(|c| {
            let before = c.diags.len();
            c.current.push((path.to_owned(), mark, before));
        });
        Scope
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        with_collector(|c| c.current.pop());
    }
}

struct Suppress;

impl Suppress {
    fn start() -> Suppress {
        with_collector(|c| c.suppress += 1);
        Suppress
    }
}

impl Drop for Suppress {
    fn drop(&mut self) {
        with_collector(|c| c.suppress -= 1);
    }
}

/// Visits a placeholder after a recorded mismatch; its failures are not new errors.
fn placeholder<T>(visit: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    let _quiet = Suppress::start();
    visit().map_err(Error::already_recorded)
}

// ---------------------------------------------------------------------------------------------
// The deserializer
// ---------------------------------------------------------------------------------------------

/// Which keys of the top-level map [`deserialize`] lets the target see.
#[derive(Debug, Clone, Copy)]
pub enum Keys<'a> {
    All,
    /// Only these keys; the others are dropped before anything looks at them.
    Only(&'a [&'a str]),
    /// All keys but these.
    Except(&'a [&'a str]),
}

impl Keys<'_> {
    fn keeps(&self, key: &Node) -> bool {
        let name = key.as_str();
        match self {
            Keys::All => true,
            Keys::Only(keys) => name.is_some_and(|n| keys.contains(&n)),
            Keys::Except(keys) => !name.is_some_and(|n| keys.contains(&n)),
        }
    }
}

/// Deserializes `node` (found at `path`, `""` for the document root) into a `T`, appending every
/// problem found to `diags` in document order. Returns `Some` only when nothing was recorded.
///
/// `keys` filters the keys of `node` itself (if it is a map) before deserialization starts.
/// See the module documentation for what continues after an error and what aborts.
pub fn deserialize<T: DeserializeOwned>(
    node: &Node,
    path: &str,
    keys: Keys<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    let filtered;
    let node = match (&node.value, keys) {
        (_, Keys::All) => node,
        (Value::Map(entries), keys) => {
            filtered = Node {
                value: Value::Map(
                    entries
                        .iter()
                        .filter(|(k, _)| keys.keeps(k))
                        .cloned()
                        .collect(),
                ),
                mark: node.mark,
            };
            &filtered
        }
        _ => node,
    };
    let session = Session::start();
    let result = run_seed(PhantomData::<T>, node, path);
    let mut found = session.finish();
    if let Err(error) = &result
        && found.is_empty()
    {
        // Cannot happen (every error is recorded on its way up); never lose one anyway.
        found.push(Diagnostic {
            path: path.to_owned(),
            mark: node.mark,
            message: error.message.clone(),
        });
    }
    found.sort_by_key(|d| d.mark.key());
    let clean = found.is_empty();
    diags.extend(found);
    match result {
        Ok(value) if clean => Some(value),
        _ => None,
    }
}

/// The error that travels through serde while [`deserialize`] runs. `recorded` is true once it
/// is in the diagnostics, so the enclosing nodes pass it on without recording it again.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Error {
    message: String,
    recorded: bool,
}

impl Error {
    fn already_recorded(mut self) -> Error {
        self.recorded = true;
        self
    }

    fn recorded() -> Error {
        Error {
            message: "already recorded".to_owned(),
            recorded: true,
        }
    }

    /// Records the error at this node unless a deeper node did.
    fn record_at(mut self, path: &str, mark: Mark) -> Error {
        if !self.recorded {
            record(path, mark, self.message.clone());
            self.recorded = true;
        }
        self
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            message: msg.to_string(),
            recorded: false,
        }
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        de::Error::custom(format_args!("expected {exp}, found {unexp}"))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        de::Error::custom(format_args!("invalid value {unexp}, expected {exp}"))
    }

    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        de::Error::custom(format_args!("expected {exp}, found {len} elements"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        de::Error::custom(unknown_message("value", variant, expected))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        de::Error::custom(unknown_message("key", field, expected))
    }

    fn missing_field(field: &'static str) -> Self {
        de::Error::custom(format_args!("missing required key `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        de::Error::custom(format_args!("key `{field}` is given more than once"))
    }
}

/// Runs a seed on a node: the node is the current one for [`report`], and an error not yet
/// recorded deeper is recorded here.
fn run_seed<'de, S: DeserializeSeed<'de>>(
    seed: S,
    node: &'de Node,
    path: &str,
) -> Result<S::Value, Error> {
    run_with(node, path, |de| seed.deserialize(de))
}

/// Like [`run_seed`], for a visitor-driven call on a node.
fn run_with<'de, T>(
    node: &'de Node,
    path: &str,
    f: impl FnOnce(De<'de>) -> Result<T, Error>,
) -> Result<T, Error> {
    let _scope = Scope::enter(path, node.mark);
    let result = f(De {
        node,
        path: path.to_owned(),
    });
    result.map_err(|e| e.record_at(path, node.mark))
}

const SECRET_KEYS: &[&str] = &[
    "password",
    "pass",
    "secret",
    "token",
    "api_key",
    "dqs_key",
    "key",
    "bearer_token",
];

fn unknown_key_message(key: &str, fields: &[&str]) -> String {
    let lower = key.to_ascii_lowercase();
    if SECRET_KEYS.contains(&lower.as_str()) {
        return format!(
            "inline secrets are not allowed: put the secret in a file and write \
             `{lower}_file: PATH`, or in an environment variable and write `{lower}_env: NAME`"
        );
    }
    if key == "<<" {
        return "merge keys (`<<`) are not supported: write the keys out".to_owned();
    }
    unknown_message("key", key, fields)
}

/// "unknown key `x`, did you mean `y`?" or "unknown key `x`, expected one of `a`, `b`".
fn unknown_message(what: &str, given: &str, expected: &[&str]) -> String {
    if expected.is_empty() {
        return format!("unknown {what} `{given}`: none is allowed here");
    }
    if let Some(close) = closest(given, expected) {
        return format!("unknown {what} `{given}`, did you mean `{close}`?");
    }
    let list: Vec<String> = expected.iter().map(|e| format!("`{e}`")).collect();
    format!(
        "unknown {what} `{given}`, expected one of {}",
        list.join(", ")
    )
}

/// The candidate nearest to `given` if it is a plausible typo of it.
fn closest<'a>(given: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let given_len = given.chars().count();
    let limit = (given_len / 3).clamp(1, 3);
    candidates
        .iter()
        .map(|c| (edit_distance(given, c), *c))
        .filter(|(d, _)| *d <= limit && *d < given_len)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: Levenshtein plus swaps of two neighbours.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// A deserializer for one node.
struct De<'de> {
    node: &'de Node,
    path: String,
}

impl<'de> De<'de> {
    /// Records "expected X, found Y" at this node.
    fn mismatch(&self, expected: &str, hint: &str) {
        let mut message = format!("expected {expected}, found {}", describe(self.node));
        message.push_str(hint);
        record(&self.path, self.node.mark, message);
    }

    /// Hint for a quoted scalar that would have matched without its quotes.
    fn quote_hint(&self, plain_matches: impl Fn(Scalar<'_>) -> bool) -> &'static str {
        match &self.node.value {
            Value::Scalar { text, quoted: true } if plain_matches(resolve_plain(text)) => {
                " (quoted values are strings: remove the quotes)"
            }
            _ => "",
        }
    }

    fn integer(&self) -> Result<i128, ()> {
        match resolve(self.node) {
            Some(Scalar::Int(Some(value))) => Ok(value),
            Some(Scalar::Int(None)) => {
                self.out_of_range(None);
                Err(())
            }
            _ => {
                let hint = self.quote_hint(|s| matches!(s, Scalar::Int(_)));
                self.mismatch("an integer", hint);
                Err(())
            }
        }
    }

    fn out_of_range(&self, range: Option<(String, String)>) {
        let text = self.node.as_str().unwrap_or_default();
        let message = match range {
            Some((min, max)) => {
                format!("integer `{text}` is out of range: expected {min} to {max}")
            }
            None => format!("integer `{text}` is out of range"),
        };
        record(&self.path, self.node.mark, message);
    }

    fn seq_access(&self, items: &'de [Node]) -> SeqAcc<'de> {
        SeqAcc {
            items: items.iter().enumerate(),
            path: self.path.clone(),
        }
    }

    fn map_access(
        &self,
        entries: &'de [(Node, Node)],
        fields: Option<&'static [&'static str]>,
    ) -> MapAcc<'de> {
        MapAcc {
            entries: entries.iter(),
            path: self.path.clone(),
            fields,
            value: None,
        }
    }

    fn seq_hint(&self) -> &'static str {
        match self.node.value {
            Value::Scalar { .. } => " (write a list: `[item]`, or `- item` lines)",
            _ => "",
        }
    }
}

macro_rules! deserialize_integer {
    ($($method:ident => $visit:ident($ty:ty),)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let Ok(value) = self.integer() else {
                return placeholder(|| visitor.$visit(0));
            };
            match <$ty>::try_from(value) {
                Ok(value) => visitor.$visit(value),
                Err(_) => {
                    self.out_of_range(Some((<$ty>::MIN.to_string(), <$ty>::MAX.to_string())));
                    placeholder(|| visitor.$visit(0))
                }
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for De<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Seq(items) => visitor.visit_seq(self.seq_access(items)),
            Value::Map(entries) => visitor.visit_map(self.map_access(entries, None)),
            Value::Null => visitor.visit_unit(),
            Value::Scalar { text, .. } => match resolve(self.node) {
                Some(Scalar::Bool(b)) => visitor.visit_bool(b),
                Some(Scalar::Int(Some(i))) => {
                    if let Ok(i) = i64::try_from(i) {
                        visitor.visit_i64(i)
                    } else if let Ok(u) = u64::try_from(i) {
                        visitor.visit_u64(u)
                    } else {
                        visitor.visit_i128(i)
                    }
                }
                Some(Scalar::Float(f)) => visitor.visit_f64(f),
                _ => visitor.visit_borrowed_str(text),
            },
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if let Some(Scalar::Bool(b)) = resolve(self.node) {
            return visitor.visit_bool(b);
        }
        let hint = self.quote_hint(|s| matches!(s, Scalar::Bool(_)));
        self.mismatch("a boolean (`true` or `false`)", hint);
        placeholder(|| visitor.visit_bool(false))
    }

    deserialize_integer! {
        deserialize_i8 => visit_i8(i8),
        deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32),
        deserialize_i64 => visit_i64(i64),
        deserialize_i128 => visit_i128(i128),
        deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64),
        deserialize_u128 => visit_u128(u128),
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match resolve(self.node) {
            Some(Scalar::Float(f)) => visitor.visit_f64(f),
            // Precision loss is inherent to an integer-valued float.
            #[allow(clippy::cast_precision_loss)]
            Some(Scalar::Int(Some(i))) => visitor.visit_f64(i as f64),
            _ => {
                let hint = self.quote_hint(|s| matches!(s, Scalar::Float(_) | Scalar::Int(_)));
                self.mismatch("a number", hint);
                placeholder(|| visitor.visit_f64(0.0))
            }
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if let Some(text) = self.node.as_str() {
            let mut chars = text.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                return visitor.visit_char(c);
            }
        }
        self.mismatch("a single character", "");
        placeholder(|| visitor.visit_char(' '))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Scalar { text, .. } => visitor.visit_borrowed_str(text),
            _ => {
                self.mismatch("a string", "");
                placeholder(|| visitor.visit_borrowed_str(""))
            }
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Scalar { text, .. } => visitor.visit_borrowed_bytes(text.as_bytes()),
            Value::Seq(items) => visitor.visit_seq(self.seq_access(items)),
            _ => {
                self.mismatch("a string", "");
                placeholder(|| visitor.visit_borrowed_bytes(&[]))
            }
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if !self.node.is_null() {
            self.mismatch("no value", "");
            return placeholder(|| visitor.visit_unit());
        }
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Seq(items) => visitor.visit_seq(self.seq_access(items)),
            _ => {
                self.mismatch("a sequence", self.seq_hint());
                placeholder(|| visitor.visit_seq(self.seq_access(&[])))
            }
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Seq(items) => {
                if items.len() > len {
                    let mark = items[len].mark;
                    let message = format!("expected {len} elements, found {}", items.len());
                    record(&join_index(&self.path, len), mark, message);
                }
                visitor.visit_seq(self.seq_access(&items[..items.len().min(len)]))
            }
            _ => {
                self.mismatch(&format!("a sequence of {len} elements"), self.seq_hint());
                placeholder(|| visitor.visit_seq(self.seq_access(&[])))
            }
        }
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Map(entries) => visitor.visit_map(self.map_access(entries, None)),
            _ => {
                self.mismatch("a mapping", "");
                placeholder(|| visitor.visit_map(self.map_access(&[], None)))
            }
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Map(entries) => visitor.visit_map(self.map_access(entries, Some(fields))),
            _ => {
                self.mismatch("a mapping", "");
                placeholder(|| visitor.visit_map(self.map_access(&[], Some(fields))))
            }
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Scalar { text, .. } => visitor.visit_enum(EnumAcc {
                name: text,
                name_mark: self.node.mark,
                path: self.path.clone(),
                value: None,
            }),
            Value::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                let Some(name) = key.as_str() else {
                    record(
                        &self.path,
                        key.mark,
                        format!("expected a variant name, found {}", describe(key)),
                    );
                    return Err(Error::recorded());
                };
                visitor.visit_enum(EnumAcc {
                    name,
                    name_mark: key.mark,
                    path: self.path.clone(),
                    value: Some(value),
                })
            }
            _ => {
                let list: Vec<String> = variants.iter().map(|v| format!("`{v}`")).collect();
                let expected = if list.is_empty() {
                    "nothing".to_owned()
                } else {
                    format!("one of {}", list.join(", "))
                };
                self.mismatch(&expected, "");
                let Some(first) = variants.first() else {
                    return Err(Error::recorded());
                };
                placeholder(|| {
                    visitor.visit_enum(EnumAcc {
                        name: first,
                        name_mark: self.node.mark,
                        path: self.path.clone(),
                        value: None,
                    })
                })
            }
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct SeqAcc<'de> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Node>>,
    path: String,
}

impl<'de> SeqAccess<'de> for SeqAcc<'de> {
    type Error = Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Error> {
        match self.items.next() {
            Some((index, node)) => run_seed(seed, node, &join_index(&self.path, index)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAcc<'de> {
    entries: std::slice::Iter<'de, (Node, Node)>,
    path: String,
    /// `Some` for structs: keys outside it are reported and skipped.
    fields: Option<&'static [&'static str]>,
    /// The value of the key just returned, with its path.
    value: Option<(&'de Node, String)>,
}

impl<'de> MapAccess<'de> for MapAcc<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        for (key, value) in self.entries.by_ref() {
            let Some(fields) = self.fields else {
                let path = join_key(&self.path, &key_label(key));
                let key = run_seed(seed, key, &path)?;
                self.value = Some((value, path));
                return Ok(Some(key));
            };
            let Some(name) = key.as_str() else {
                let message = format!("expected a key name, found {}", describe(key));
                record(&self.path, key.mark, message);
                continue;
            };
            let path = join_key(&self.path, name);
            if !fields.contains(&name) {
                record(&path, key.mark, unknown_key_message(name, fields));
                continue;
            }
            let key = seed
                .deserialize(BorrowedStrDeserializer::<Error>::new(name))
                .map_err(|e| e.record_at(&path, value.mark))?;
            self.value = Some((value, path));
            return Ok(Some(key));
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((node, path)) = self.value.take() else {
            return Err(de::Error::custom(
                "a map value was asked for before its key",
            ));
        };
        run_seed(seed, node, &path)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct EnumAcc<'de> {
    name: &'de str,
    /// Where the variant name is written (the scalar, or the key of `{variant: value}`).
    name_mark: Mark,
    /// Path of the enum node.
    path: String,
    value: Option<&'de Node>,
}

impl<'de> EnumAccess<'de> for EnumAcc<'de> {
    type Error = Error;
    type Variant = VariantAcc<'de>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, VariantAcc<'de>), Error> {
        let variant = seed
            .deserialize(BorrowedStrDeserializer::<Error>::new(self.name))
            .map_err(|e| e.record_at(&self.path, self.name_mark))?;
        let value_path = match self.value {
            Some(_) => join_key(&self.path, self.name),
            None => self.path.clone(),
        };
        Ok((
            variant,
            VariantAcc {
                name: self.name,
                name_mark: self.name_mark,
                path: value_path,
                value: self.value,
            },
        ))
    }
}

struct VariantAcc<'de> {
    name: &'de str,
    name_mark: Mark,
    /// Path of the value (`enum.variant` in the `{variant: value}` form).
    path: String,
    value: Option<&'de Node>,
}

impl VariantAcc<'_> {
    fn needs_value(&self) -> Error {
        let message = format!(
            "`{}` needs a value: write `{}: VALUE`",
            self.name, self.name
        );
        record(&self.path, self.name_mark, message);
        Error::recorded()
    }
}

impl<'de> VariantAccess<'de> for VariantAcc<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        if let Some(value) = self.value
            && !value.is_null()
        {
            let message = format!(
                "`{}` takes no value, found {}: write just `{}`",
                self.name,
                describe(value),
                self.name
            );
            record(&self.path, value.mark, message);
        }
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Error> {
        match self.value {
            Some(node) => run_seed(seed, node, &self.path),
            None => Err(self.needs_value()),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Some(node) => run_with(node, &self.path, |de| {
                de::Deserializer::deserialize_tuple(de, len, visitor)
            }),
            None => Err(self.needs_value()),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Some(node) => run_with(node, &self.path, |de| {
                de::Deserializer::deserialize_struct(de, "", fields, visitor)
            }),
            None => Err(self.needs_value()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------------------------

/// A duration written the humantime way (`30s`, `5m`, `1h 30m`).
///
/// Inside [`deserialize`] a bad duration is [`report`]ed and deserializes as zero, so the other
/// errors of the file are still found; elsewhere it is an `Err`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl From<HumanDuration> for Duration {
    fn from(d: HumanDuration) -> Duration {
        d.0
    }
}

impl<'de> de::Deserialize<'de> for HumanDuration {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = HumanDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `30s`, `5m` or `1h`")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<HumanDuration, E> {
                match humantime::parse_duration(text.trim()) {
                    Ok(duration) => Ok(HumanDuration(duration)),
                    Err(error) => {
                        let message = format!(
                            "invalid duration `{text}`: {error} (write e.g. `30s`, `5m`, `1h`)"
                        );
                        if collecting() {
                            report(message);
                            Ok(HumanDuration(Duration::ZERO))
                        } else {
                            Err(E::custom(message))
                        }
                    }
                }
            }
        }

        deserializer.deserialize_str(DurationVisitor)
    }
}

#[cfg(test)]
mod tests {
    // The test structs mirror config shapes; the tests look at diagnostics, not every field.
    #![allow(dead_code)]

    use std::collections::{BTreeMap, HashMap};

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Roundtrip,
        Dns,
        Transport,
        Dnsbl,
        Reports,
    }

    #[derive(Debug, Deserialize)]
    struct Global {
        interval: Option<HumanDuration>,
        timeout: Option<HumanDuration>,
        #[serde(default)]
        resolver: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    struct Smtp {
        host: String,
        port: u16,
        password_file: Option<String>,
        password_env: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    struct Probe {
        name: String,
        kind: Kind,
        interval: Option<HumanDuration>,
        #[serde(default)]
        zones: Vec<String>,
        smtp: Option<Smtp>,
    }

    #[derive(Debug, Deserialize)]
    struct Config {
        global: Global,
        #[serde(default)]
        domains: BTreeMap<String, Domain>,
        #[serde(default)]
        probes: Vec<Probe>,
    }

    #[derive(Debug, Deserialize)]
    struct Domain {
        #[serde(default)]
        dkim_selectors: Vec<String>,
        verify: Option<bool>,
    }

    fn run<T: DeserializeOwned>(text: &str) -> (Option<T>, Vec<Diagnostic>) {
        let node = parse(text).expect("test YAML parses");
        let mut diags = Vec::new();
        let value = deserialize(&node, "", Keys::All, &mut diags);
        (value, diags)
    }

    fn at(diag: &Diagnostic) -> (usize, usize, &str) {
        (diag.mark.line, diag.mark.column, diag.path.as_str())
    }

    #[test]
    fn three_errors_in_one_run() {
        let text = "\
global:
  interval: 5m
  timeout: 30s
probes:
  - name: mx
    kind: transport
    smtp:
      host: mx1.example.org
      port: 25
      retries: 3
  - name: rt
    kind: roundtrip
    interval: 5 minutes please
    smtp:
      host: smtp.example.org
      port: 587
      password: hunter2
";
        let (config, diags) = run::<Config>(text);
        assert!(config.is_none());
        assert_eq!(diags.len(), 3, "{diags:#?}");
        assert_eq!(at(&diags[0]), (10, 7, "probes[0].smtp.retries"));
        assert!(diags[0].message.starts_with("unknown key `retries`"));
        assert!(diags[0].message.contains("`host`"), "{}", diags[0].message);
        assert_eq!(at(&diags[1]), (13, 15, "probes[1].interval"));
        assert!(
            diags[1]
                .message
                .starts_with("invalid duration `5 minutes please`"),
            "{}",
            diags[1].message
        );
        assert_eq!(at(&diags[2]), (17, 7, "probes[1].smtp.password"));
        assert_eq!(
            diags[2].message,
            "inline secrets are not allowed: put the secret in a file and write \
             `password_file: PATH`, or in an environment variable and write \
             `password_env: NAME`"
        );
        assert_eq!(
            diags[2].to_string(),
            format!("17:7: probes[1].smtp.password: {}", diags[2].message)
        );
    }

    #[test]
    fn clean_config_deserializes() {
        let text = "\
global: { interval: 5m, timeout: 30s, resolver: [\"127.0.0.1:53\"] }
domains:
  example.org: { dkim_selectors: [s1, s2] }
probes:
  - name: d
    kind: dns
";
        let (config, diags) = run::<Config>(text);
        assert!(diags.is_empty(), "{diags:#?}");
        let config = config.unwrap();
        assert_eq!(
            config.global.interval,
            Some(HumanDuration(Duration::from_secs(300)))
        );
        assert_eq!(config.global.resolver, ["127.0.0.1:53"]);
        assert_eq!(config.domains["example.org"].dkim_selectors, ["s1", "s2"]);
        assert_eq!(config.probes[0].kind, Kind::Dns);
        assert!(config.probes[0].smtp.is_none());
    }

    #[test]
    fn nested_paths_and_indexes() {
        let text = "\
global: {}
probes:
  - name: a
    kind: dnsbl
  - name: b
    kind: dnsbl
  - name: c
    kind: dnsbl
    zones: [zen.example, {x: 1}, [y]]
";
        let (config, diags) = run::<Config>(text);
        assert!(config.is_none());
        assert_eq!(diags.len(), 2, "{diags:#?}");
        assert_eq!(at(&diags[0]), (9, 26, "probes[2].zones[1]"));
        assert_eq!(diags[0].message, "expected a string, found a mapping");
        assert_eq!(at(&diags[1]), (9, 34, "probes[2].zones[2]"));
        assert_eq!(diags[1].message, "expected a string, found a sequence");
    }

    #[test]
    fn path_of_zone_element() {
        #[derive(Debug, Deserialize)]
        struct Probes {
            probes: Vec<Probe>,
        }
        let text = "\
probes:
  - {name: a, kind: dnsbl}
  - {name: b, kind: dnsbl}
  - name: c
    kind: dnsbl
    zones:
      - [nested]
";
        let (_, diags) = run::<Probes>(text);
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(at(&diags[0]), (7, 9, "probes[2].zones[0]"));
    }

    #[test]
    fn option_fields() {
        let (domain, diags) = run::<Domain>("verify: true\n");
        assert!(diags.is_empty());
        assert_eq!(domain.unwrap().verify, Some(true));
        let (domain, diags) = run::<Domain>("verify:\n");
        assert!(diags.is_empty());
        assert_eq!(domain.unwrap().verify, None);
        let (domain, diags) = run::<Domain>("verify: ~\n");
        assert!(diags.is_empty());
        assert_eq!(domain.unwrap().verify, None);
        let (domain, diags) = run::<Domain>("dkim_selectors: []\n");
        assert!(diags.is_empty());
        assert_eq!(domain.unwrap().verify, None);
        let (domain, diags) = run::<Domain>("verify: yes\n");
        assert!(domain.is_none());
        assert_eq!(at(&diags[0]), (1, 9, "verify"));
        assert_eq!(
            diags[0].message,
            "expected a boolean (`true` or `false`), found string \"yes\""
        );
    }

    #[test]
    fn quoted_and_plain_scalars() {
        #[derive(Debug, Deserialize)]
        struct S {
            name: String,
            port: u16,
        }
        let (s, diags) = run::<S>("name: 123\nport: 123\n");
        assert!(diags.is_empty(), "{diags:#?}");
        let s = s.unwrap();
        assert_eq!((s.name.as_str(), s.port), ("123", 123));

        let (s, diags) = run::<S>("name: \"123\"\nport: 0x1F\n");
        assert!(diags.is_empty(), "{diags:#?}");
        assert_eq!(s.unwrap().port, 31);

        let (s, diags) = run::<S>("name: true\nport: \"123\"\n");
        assert!(s.is_none());
        assert_eq!(diags.len(), 1);
        assert_eq!(at(&diags[0]), (2, 7, "port"));
        assert_eq!(
            diags[0].message,
            "expected an integer, found string \"123\" (quoted values are strings: remove the quotes)"
        );

        let (_, diags) = run::<S>("name: [a]\nport: abc\n");
        assert_eq!(diags.len(), 2);
        assert_eq!(diags[0].message, "expected a string, found a sequence");
        assert_eq!(
            diags[1].message,
            "expected an integer, found string \"abc\""
        );

        let (_, diags) = run::<S>("name: x\nport: -1\n");
        assert_eq!(
            diags[0].message,
            "integer `-1` is out of range: expected 0 to 65535"
        );
        let (_, diags) = run::<S>("name: x\nport: 70000\n");
        assert_eq!(
            diags[0].message,
            "integer `70000` is out of range: expected 0 to 65535"
        );
        let (_, diags) = run::<S>("name: x\nport: 1.5\n");
        assert_eq!(diags[0].message, "expected an integer, found float `1.5`");
    }

    #[test]
    fn core_schema() {
        assert_eq!(resolve_plain("~"), Scalar::Null);
        assert_eq!(resolve_plain("True"), Scalar::Bool(true));
        assert_eq!(resolve_plain("yes"), Scalar::Str("yes"));
        assert_eq!(resolve_plain("-12"), Scalar::Int(Some(-12)));
        assert_eq!(resolve_plain("0o17"), Scalar::Int(Some(15)));
        assert_eq!(resolve_plain("0777"), Scalar::Int(Some(777)));
        assert_eq!(resolve_plain("1.5e3"), Scalar::Float(1500.0));
        assert_eq!(resolve_plain(".5"), Scalar::Float(0.5));
        assert_eq!(resolve_plain("-.inf"), Scalar::Float(f64::NEG_INFINITY));
        assert_eq!(resolve_plain("1.2.3"), Scalar::Str("1.2.3"));
        assert_eq!(resolve_plain("192.0.2.10"), Scalar::Str("192.0.2.10"));
        assert_eq!(resolve_plain("2001:db8::10"), Scalar::Str("2001:db8::10"));
        assert_eq!(resolve_plain("1e"), Scalar::Str("1e"));
        assert_eq!(resolve_plain("."), Scalar::Str("."));

        let value: Option<HashMap<String, f64>> = deserialize(
            &parse("a: 1\nb: 2.5\n").unwrap(),
            "",
            Keys::All,
            &mut Vec::new(),
        );
        assert_eq!(value.unwrap()["a"], 1.0);
    }

    #[test]
    fn missing_required_field() {
        let text = "\
global: {}
probes:
  - name: a
    kind: dns
    smtp:
      port: 25
      pasword_file: /x
";
        let (config, diags) = run::<Config>(text);
        assert!(config.is_none());
        assert_eq!(diags.len(), 2, "{diags:#?}");
        assert_eq!(at(&diags[0]), (6, 7, "probes[0].smtp"));
        assert_eq!(diags[0].message, "missing required key `host`");
        assert_eq!(at(&diags[1]), (7, 7, "probes[0].smtp.pasword_file"));
        assert_eq!(
            diags[1].message,
            "unknown key `pasword_file`, did you mean `password_file`?"
        );
    }

    #[test]
    fn unknown_enum_variant() {
        let text = "\
global: {}
probes:
  - name: a
    kind: dnz
    interval: nope
";
        let (config, diags) = run::<Config>(text);
        assert!(config.is_none());
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(at(&diags[0]), (4, 11, "probes[0].kind"));
        assert_eq!(diags[0].message, "unknown value `dnz`, did you mean `dns`?");

        let (_, diags) = run::<Probe>("name: a\nkind: carrier-pigeon\n");
        assert_eq!(
            diags[0].message,
            "unknown value `carrier-pigeon`, expected one of `roundtrip`, `dns`, `transport`, \
             `dnsbl`, `reports`"
        );

        // `{variant: value}` with an unknown variant aborts the struct (`interval` is not read).
        let (_, diags) = run::<Probe>("name: [a]\nkind: {x: 1}\ninterval: 1x\n");
        let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "expected a string, found a sequence",
                "unknown value `x`, expected one of `roundtrip`, `dns`, `transport`, `dnsbl`, \
                 `reports`"
            ]
        );

        // Neither a name nor a one-key mapping: recorded, and a placeholder keeps going.
        let (_, diags) = run::<Probe>("name: a\nkind: [dns]\ninterval: 1x\n");
        let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages.len(), 2, "{diags:#?}");
        assert_eq!(
            messages[0],
            "expected one of `roundtrip`, `dns`, `transport`, `dnsbl`, `reports`, found a sequence"
        );
        assert!(messages[1].starts_with("invalid duration `1x`"));
    }

    #[test]
    fn enum_forms() {
        #[derive(Debug, Deserialize, PartialEq)]
        #[serde(rename_all = "snake_case")]
        enum Resolver {
            System,
            Servers(Vec<String>),
            Custom { address: String, port: u16 },
            Pair(String, u16),
        }
        let diags = RefCell::new(Vec::new());
        let get = |text: &str| -> Option<Resolver> {
            deserialize(
                &parse(text).unwrap(),
                "r",
                Keys::All,
                &mut diags.borrow_mut(),
            )
        };
        assert_eq!(get("system"), Some(Resolver::System));
        assert_eq!(get("\"system\""), Some(Resolver::System));
        assert_eq!(get("system: ~"), Some(Resolver::System));
        assert_eq!(
            get("servers: [a, b]"),
            Some(Resolver::Servers(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            get("custom: {address: a, port: 53}"),
            Some(Resolver::Custom {
                address: "a".into(),
                port: 53
            })
        );
        assert_eq!(get("pair: [a, 53]"), Some(Resolver::Pair("a".into(), 53)));
        assert!(diags.borrow().is_empty(), "{diags:#?}");
        assert_eq!(get("custom: {address: a, port: x, extra: 1}"), None);
        assert_eq!(get("servers"), None);
        let diags = diags.into_inner();
        let paths: Vec<&str> = diags.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            ["r.custom.port", "r.custom.extra", "r"],
            "{diags:#?}"
        );
        assert_eq!(
            diags[2].message,
            "`servers` needs a value: write `servers: VALUE`"
        );
    }

    #[test]
    fn syntax_error_position() {
        let text = "global:\n  interval: 5m\n timeout: 30s\n";
        let diags = parse(text).unwrap_err();
        assert_eq!(diags.len(), 1);
        assert_eq!((diags[0].mark.line, diags[0].mark.column), (3, 9));
        assert!(diags[0].message.contains("did not find expected key"));

        let text = "global:\n  interval: 5m\n   timeout: 30s\n";
        let diags = parse(text).unwrap_err();
        assert_eq!((diags[0].mark.line, diags[0].mark.column), (3, 11));
        assert_eq!(diags[0].path, "global");
        assert!(diags[0].message.contains("check the indentation"));

        let diags = parse("a:\n\t- b\n").unwrap_err();
        assert_eq!((diags[0].mark.line, diags[0].mark.column), (2, 2));
    }

    /// Found by the `config` fuzz target: an error at the end of a file without a final line
    /// break was placed on the line after the last one.
    #[test]
    fn syntax_error_at_the_end_is_inside_the_file() {
        let at = |text: &str| {
            let d = parse(text).unwrap_err();
            (d[0].mark.line, d[0].mark.column)
        };
        assert_eq!(at("a: [1, 2"), (1, 9));
        assert_eq!(at("a: [1, 2\n"), (2, 1));
        assert_eq!(at("a: [1, 2\r\n"), (2, 1));
        assert_eq!(at("probes:\n  - name: a b\n    kind:# /etc/x"), (3, 18));
        assert_eq!(at("x: 'ü"), (1, 4));
    }

    /// Found by the `config` fuzz target (`&####`): an empty value at the very end of a file
    /// without a final line break was placed on the line after the last one.
    #[test]
    fn empty_value_at_the_end_is_inside_the_file() {
        let root = parse("&####").unwrap();
        assert!(root.is_null());
        assert_eq!((root.mark.line, root.mark.column), (1, 6));
        let root = parse("a: &x").unwrap();
        let v = root.get("a").unwrap();
        assert!(v.is_null());
        assert!((v.mark.line, v.mark.column) <= (1, 6), "{:?}", v.mark);
        // And a diagnostic about such a value (`!#&0`: an unsupported tag).
        let d = parse_collect_diags("!#&0");
        assert!(!d.is_empty());
        assert!(
            d.iter().all(|d| (d.mark.line, d.mark.column) <= (1, 5)),
            "{d:?}"
        );
    }

    fn parse_collect_diags(text: &str) -> Vec<Diagnostic> {
        let mut d = vec![];
        let _ = parse_collect(text, &mut d);
        d
    }

    #[test]
    fn empty_document_is_null() {
        assert!(parse("").unwrap().is_null());
        assert!(parse("# nothing\n").unwrap().is_null());
        let (config, diags) = run::<Config>("");
        assert!(config.is_none());
        assert_eq!(
            diags[0].to_string(),
            "1:1: expected a mapping, found null (no value)"
        );
    }

    #[test]
    fn keys_filter() {
        #[derive(Debug, Deserialize)]
        struct Common {
            name: String,
            kind: Kind,
            interval: Option<HumanDuration>,
            timeout: Option<HumanDuration>,
        }
        #[derive(Debug, Deserialize)]
        struct Dnsbl {
            zones: Vec<String>,
        }
        const COMMON: &[&str] = &["name", "kind", "interval", "timeout"];
        let node = parse("name: a\nkind: dnsbl\nzones: [z]\nzone: y\ntimeout: 5s\n").unwrap();
        let mut diags = Vec::new();
        let common: Common =
            deserialize(&node, "probes[0]", Keys::Only(COMMON), &mut diags).unwrap();
        assert_eq!(common.name, "a");
        assert_eq!(common.timeout, Some(HumanDuration(Duration::from_secs(5))));
        assert!(diags.is_empty());
        let specific: Option<Dnsbl> =
            deserialize(&node, "probes[0]", Keys::Except(COMMON), &mut diags);
        assert!(specific.is_none());
        assert_eq!(diags.len(), 1);
        assert_eq!(at(&diags[0]), (4, 1, "probes[0].zone"));
        assert_eq!(
            diags[0].message,
            "unknown key `zone`, did you mean `zones`?"
        );
    }

    #[test]
    fn report_from_custom_type() {
        #[derive(Debug)]
        struct Even(u32);
        impl<'de> Deserialize<'de> for Even {
            fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let n = u32::deserialize(d)?;
                if n % 2 == 1 {
                    report(format_args!("{n} is odd"));
                }
                Ok(Even(n))
            }
        }
        #[derive(Debug, Deserialize)]
        struct S {
            a: Vec<Even>,
            b: HumanDuration,
        }
        let (s, diags) = run::<S>("a: [2, 3, 4, 5, x]\nb: {}\n");
        assert!(s.is_none());
        let got: Vec<(usize, usize, &str, &str)> = diags
            .iter()
            .map(|d| {
                (
                    d.mark.line,
                    d.mark.column,
                    d.path.as_str(),
                    d.message.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (1, 8, "a[1]", "3 is odd"),
                (1, 14, "a[3]", "5 is odd"),
                (1, 17, "a[4]", "expected an integer, found string \"x\""),
                (2, 4, "b", "expected a string, found a mapping"),
            ]
        );

        // Outside deserialize(), report() does nothing and HumanDuration is an error.
        report("ignored");
        assert!(!collecting());
        let err = HumanDuration::deserialize(BorrowedStrDeserializer::<Error>::new("5 parsecs"));
        assert!(
            err.unwrap_err()
                .message
                .starts_with("invalid duration `5 parsecs`")
        );
    }

    #[test]
    fn custom_error_recorded_once_at_innermost_node() {
        #[derive(Debug)]
        struct Port(u16);
        impl<'de> Deserialize<'de> for Port {
            fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let n = u16::deserialize(d)?;
                if n == 0 {
                    return Err(de::Error::custom("port 0 is not a port"));
                }
                Ok(Port(n))
            }
        }
        #[derive(Debug, Deserialize)]
        struct S {
            ports: Vec<Port>,
            name: String,
        }
        let (s, diags) = run::<S>("name: [x]\nports: [1, 0, 2]\n");
        assert!(s.is_none());
        assert_eq!(diags.len(), 2, "{diags:#?}");
        assert_eq!(at(&diags[1]), (2, 12, "ports[1]"));
        assert_eq!(diags[1].message, "port 0 is not a port");
    }

    #[test]
    fn duplicate_keys() {
        let text = "a: 1\nb: 2\na: 3\nc:\n  d: 1\n  d: 2\n";
        let diags = parse(text).unwrap_err();
        assert_eq!(diags.len(), 2);
        assert_eq!(at(&diags[0]), (3, 1, "a"));
        assert_eq!(
            diags[0].message,
            "duplicate key `a` (first given at line 1, column 1; this one is ignored)"
        );
        assert_eq!(at(&diags[1]), (6, 3, "c.d"));

        // parse_collect keeps the first value so deserialization can go on.
        let mut diags = Vec::new();
        let node = parse_collect(text, &mut diags).unwrap();
        assert_eq!(diags.len(), 2);
        assert_eq!(node.get("a").and_then(Node::as_str), Some("1"));
        assert_eq!(
            node.get("c")
                .and_then(|c| c.get("d"))
                .and_then(Node::as_str),
            Some("1")
        );
    }

    #[test]
    fn maps_with_string_keys() {
        let (m, diags) = run::<HashMap<String, u16>>("a: 1\n2: 3\n\"x y\": 4\n");
        assert!(diags.is_empty());
        let m = m.unwrap();
        assert_eq!((m["a"], m["2"], m["x y"]), (1, 3, 4));
        let (_, diags) = run::<BTreeMap<String, u16>>("a: 1\n\"x y\": z\n");
        assert_eq!(at(&diags[0]), (2, 8, "\"x y\""));
        let (_, diags) = run::<BTreeMap<String, Vec<String>>>("a: one\n");
        assert_eq!(
            diags[0].message,
            "expected a sequence, found string \"one\" (write a list: `[item]`, or `- item` lines)"
        );
    }

    #[test]
    fn anchors_aliases_and_documents() {
        let node = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(node.get("b").unwrap().as_seq().unwrap().len(), 2);
        assert_eq!(node.get("b").unwrap().mark, Mark { line: 2, column: 4 });

        let diags = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(at(&diags[0]), (2, 1, ""));

        let diags = parse("a: !custom x\n").unwrap_err();
        assert_eq!(
            diags[0].message,
            "unsupported YAML tag `!custom` (remove it)"
        );
        let (v, _) = run::<String>("!!str 12");
        assert_eq!(v.as_deref(), Some("12"));

        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n\
                    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n\
                    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n\
                    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
        let diags = parse(bomb).unwrap_err();
        assert!(diags[0].message.starts_with("aliases expand to more than"));

        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let diags = parse(&deep).unwrap_err();
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].message, "nesting is deeper than 64 levels");
        assert_eq!(
            diags[0].mark,
            Mark {
                line: 1,
                column: 65
            }
        );
        let deep: String = (0..100)
            .map(|i| format!("{}- \n", "  ".repeat(i)))
            .collect();
        let diags = parse(&deep).unwrap_err();
        assert_eq!(diags[0].message, "nesting is deeper than 64 levels");
        // The scanner's own limit: a syntax error, not a crash.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse(&deep).unwrap_err().len(), 1);
    }

    #[test]
    fn merge_key_and_secret_hints() {
        let (_, diags) = run::<Domain>("<<: {verify: true}\ntoken: abc\n");
        assert_eq!(
            diags[0].message,
            "merge keys (`<<`) are not supported: write the keys out"
        );
        assert!(diags[1].message.contains("`token_file: PATH`"));
        let (_, diags) = run::<Domain>("frobnicate: 1\n");
        assert_eq!(
            diags[0].message,
            "unknown key `frobnicate`, expected one of `dkim_selectors`, `verify`"
        );
    }

    #[test]
    fn nested_deserialize_restores_the_outer_sink() {
        #[derive(Debug)]
        struct Inner;
        impl<'de> Deserialize<'de> for Inner {
            fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                let node = parse(&text).unwrap();
                let _: Option<u8> = deserialize(&node, "inner", Keys::All, &mut Vec::new());
                report("outer");
                Ok(Inner)
            }
        }
        let (_, diags) = run::<Inner>("\"x\"");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].message, "outer");
    }
}
