//! A task-definition file as a tree whose every node knows its line and column.
//!
//! serde_json keeps no positions, and a finding must point at the line in the
//! user's file, so JSON is read by the small strict parser here (RFC 8259: no
//! comments, no trailing commas, no NaN) and YAML by `saphyr-parser`'s event
//! stream, which keeps CloudFormation's `!Ref`/`!Sub`/`!GetAtt` tags. Both give
//! the same [`Node`] tree. Input is hostile: nesting is capped at [`MAX_DEPTH`],
//! the file at [`MAX_FILE_BYTES`], and YAML anchors and aliases are refused
//! (CloudFormation does not take them either, and they are how a small file
//! expands into a huge tree).

use std::borrow::Cow;

/// CloudFormation takes templates up to 1 MB; ECS task definitions are 64 KiB.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Deeper than any task definition or template is written.
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number as written (never needed as arithmetic here).
    Number(String),
    String(String),
    Seq(Vec<Node>),
    /// Keys in order; a repeated key keeps every entry and [`Node::get`] takes the
    /// last, as the AWS CLI and CloudFormation's JSON readers do.
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub col: usize,
    /// A YAML tag (`!Ref`, `!Sub`), when the node has one.
    pub tag: Option<String>,
    pub value: Value,
}

impl Node {
    /// The entry for `key`, matched ignoring ASCII case so that ECS's camelCase
    /// (`containerDefinitions`) and CloudFormation's PascalCase
    /// (`ContainerDefinitions`) read alike.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value node for `key` (the key's line is where a finding
    /// about the whole entry points).
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(m) => m
                .iter()
                .rev()
                .find(|(k, _)| k.as_str().is_some_and(|s| s.eq_ignore_ascii_case(key)))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The entry for `key` spelled exactly as one input shape spells it: ECS's
    /// camelCase (`containerDefinitions`, as given), or CloudFormation's
    /// PascalCase (`ContainerDefinitions`) when `pascal`. The last of repeated
    /// keys wins. Other spellings are not read: ECS and CloudFormation refuse
    /// them, so a stray `environment:` beside `Environment:` in a template must
    /// not stand in for the list CloudFormation would deploy.
    pub fn field(&self, key: &str, pascal: bool) -> Option<&Node> {
        self.field_entry(key, pascal).map(|(_, v)| v)
    }

    /// [`Node::field`]'s key node and value node.
    pub fn field_entry(&self, key: &str, pascal: bool) -> Option<(&Node, &Node)> {
        let m = self.as_map()?;
        let matches = |k: &str| {
            if pascal {
                let mut c = key.chars();
                c.next().is_some_and(|f| {
                    k.len() == key.len()
                        && k.starts_with(f.to_ascii_uppercase())
                        && k[f.len_utf8()..] == *c.as_str()
                })
            } else {
                k == key
            }
        };
        m.iter()
            .rev()
            .find(|(k, _)| k.as_str().is_some_and(matches))
            .map(|(k, v)| (k, v))
    }

    /// `{"Ref": "AWS::NoValue"}` or `!Ref AWS::NoValue`: CloudFormation removes
    /// the property, so nothing is set.
    pub fn is_no_value(&self) -> bool {
        match (&self.tag, &self.value) {
            (Some(t), Value::String(s)) if t == "!Ref" => s == "AWS::NoValue",
            (None, Value::Map(m)) if m.len() == 1 => {
                m[0].0.as_str() == Some("Ref") && m[0].1.as_str() == Some("AWS::NoValue")
            }
            _ => false,
        }
    }

    /// A `Fn::If`/`!If`: its two branches, when written as a list of three.
    pub fn if_branches(&self) -> Option<(&Node, &Node)> {
        let args = match (&self.tag, &self.value) {
            (Some(t), Value::Seq(v)) if t == "!If" => v.as_slice(),
            (None, Value::Map(m)) if m.len() == 1 && m[0].0.as_str() == Some("Fn::If") => {
                match &m[0].1.value {
                    Value::Seq(v) if m[0].1.tag.is_none() => v.as_slice(),
                    _ => return None,
                }
            }
            _ => return None,
        };
        match args {
            [_, a, b] => Some((a, b)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) if self.tag.is_none() => Some(s),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) if self.tag.is_none() => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) if self.tag.is_none() => Some(m),
            _ => None,
        }
    }

    /// A boolean as ECS and CloudFormation take it (`true`, or the string `"true"`).
    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// A CloudFormation intrinsic function (`{"Ref": …}`, `{"Fn::Sub": …}`, a
    /// `!Ref` tag): provided, but its value is only known at deploy time.
    pub fn is_intrinsic(&self) -> bool {
        if self
            .tag
            .as_deref()
            .is_some_and(|t| t.starts_with('!') && !t.starts_with("!!"))
        {
            return true;
        }
        match &self.value {
            Value::Map(m) if m.len() == 1 => m[0]
                .0
                .as_str()
                .is_some_and(|k| k == "Ref" || k == "Condition" || k.starts_with("Fn::")),
            _ => false,
        }
    }

    /// A scalar's text as the deployed value would be: a string, a number or a
    /// boolean as written (ECS environment values are strings).
    pub fn scalar_text(&self) -> Option<Cow<'_, str>> {
        if self.tag.is_some() {
            return None;
        }
        match &self.value {
            Value::String(s) => Some(Cow::Borrowed(s)),
            Value::Number(n) => Some(Cow::Borrowed(n)),
            Value::Bool(b) => Some(Cow::Owned(b.to_string())),
            _ => None,
        }
    }
}

/// Why a file could not be read as a document; the position is where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

fn perr(line: usize, col: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        col,
        message: message.into(),
    }
}

/// Parses `text` as JSON when its first non-blank character opens a JSON
/// document (`{`, `[`), else as YAML. A JSON file is YAML too, but the JSON
/// reader's errors are the ones a JSON author expects.
pub fn parse(text: &str) -> Result<Node, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match text.trim_start().chars().next() {
        Some('{') | Some('[') => Json::new(text).document(),
        Some(_) => yaml(text),
        None => Err(perr(1, 1, "the file is empty")),
    }
}

struct Json<'a> {
    s: &'a str,
    i: usize,
    line: usize,
    /// Byte offset where the current line starts.
    line_start: usize,
    /// A byte offset on the current line and its column, so a node's column is
    /// counted from the last one, not from the line's start: a minified file is
    /// one line, and counting from its start for every node was quadratic.
    mark: (usize, usize),
}

impl<'a> Json<'a> {
    fn new(s: &'a str) -> Self {
        Json {
            s,
            i: 0,
            line: 1,
            line_start: 0,
            mark: (0, 1),
        }
    }

    fn col(&mut self) -> usize {
        let (at, col) = self.mark;
        let col = if at >= self.line_start && at <= self.i {
            col + self.s[at..self.i].chars().count()
        } else {
            self.s[self.line_start..self.i].chars().count() + 1
        };
        self.mark = (self.i, col);
        col
    }

    fn err(&mut self, m: impl Into<String>) -> ParseError {
        let col = self.col();
        perr(self.line, col, m)
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                // `\n`, `\r\n` and a lone `\r` each end a line, as editors count.
                b'\n' => {
                    self.i += 1;
                    self.line += 1;
                    self.line_start = self.i;
                }
                b'\r' if self.s.as_bytes().get(self.i + 1) != Some(&b'\n') => {
                    self.i += 1;
                    self.line += 1;
                    self.line_start = self.i;
                }
                b' ' | b'\t' | b'\r' => self.i += 1,
                _ => break,
            }
        }
    }

    fn document(mut self) -> Result<Node, ParseError> {
        self.ws();
        let n = self.value(0)?;
        self.ws();
        if self.i < self.s.len() {
            return Err(self.err("unexpected text after the JSON document"));
        }
        Ok(n)
    }

    fn node(&self, line: usize, col: usize, value: Value) -> Node {
        Node {
            line,
            col,
            tag: None,
            value,
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let (line, col) = (self.line, self.col());
        match self.peek() {
            None => Err(self.err("the document ends early")),
            Some(b'{') => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(self.node(line, col, Value::Map(m)));
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.err("expected `\"` to start a key"));
                    }
                    let k = self.value(depth + 1)?;
                    self.ws();
                    if self.peek() != Some(b':') {
                        return Err(self.err("expected `:` after a key"));
                    }
                    self.i += 1;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    m.push((k, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(self.node(line, col, Value::Map(m)));
                        }
                        _ => return Err(self.err("expected `,` or `}`")),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(self.node(line, col, Value::Seq(v)));
                }
                loop {
                    self.ws();
                    v.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(self.node(line, col, Value::Seq(v)));
                        }
                        _ => return Err(self.err("expected `,` or `]`")),
                    }
                }
            }
            Some(b'"') => {
                let s = self.string()?;
                Ok(self.node(line, col, Value::String(s)))
            }
            Some(b't') if self.s[self.i..].starts_with("true") => {
                self.i += 4;
                Ok(self.node(line, col, Value::Bool(true)))
            }
            Some(b'f') if self.s[self.i..].starts_with("false") => {
                self.i += 5;
                Ok(self.node(line, col, Value::Bool(false)))
            }
            Some(b'n') if self.s[self.i..].starts_with("null") => {
                self.i += 4;
                Ok(self.node(line, col, Value::Null))
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                let rest = &self.s.as_bytes()[start..];
                let len = rest
                    .iter()
                    .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .unwrap_or(rest.len());
                let text = &self.s[start..start + len];
                if !json_number(text) {
                    return Err(self.err("a number is not written as JSON writes numbers"));
                }
                self.i += len;
                Ok(self.node(line, col, Value::Number(text.to_string())))
            }
            // The character itself is not quoted: it may be part of a secret.
            Some(_) => Err(self.err("expected a JSON value")),
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = &self.s[self.i..];
            let Some(pos) = rest.find(['"', '\\']) else {
                return Err(self.err("a string is not closed"));
            };
            let chunk = &rest[..pos];
            if chunk.chars().any(|c| (c as u32) < 0x20) {
                return Err(self.err("a string holds a raw control character (a line break?)"));
            }
            out.push_str(chunk);
            self.i += pos;
            if self.peek() == Some(b'"') {
                self.i += 1;
                return Ok(out);
            }
            // A backslash escape. The position moves past it only once it is
            // known to be one of JSON's (ASCII) escapes: a backslash before a
            // multi-byte character must not leave it inside that character
            // (fuzzing found the column count then slicing mid-character).
            let esc = self.s.as_bytes().get(self.i + 1).copied();
            if !matches!(
                esc,
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' | b'u')
            ) {
                return Err(self.err("a string has an unknown `\\` escape"));
            }
            self.i += 2;
            match esc {
                Some(b'"') => out.push('"'),
                Some(b'\\') => out.push('\\'),
                Some(b'/') => out.push('/'),
                Some(b'b') => out.push('\u{8}'),
                Some(b'f') => out.push('\u{c}'),
                Some(b'n') => out.push('\n'),
                Some(b'r') => out.push('\r'),
                Some(b't') => out.push('\t'),
                Some(b'u') => {
                    let hi = self.hex4()?;
                    let c = if (0xD800..0xDC00).contains(&hi) {
                        if !self.s[self.i..].starts_with("\\u") {
                            return Err(self.err("a `\\u` escape is half a surrogate pair"));
                        }
                        self.i += 2;
                        let lo = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return Err(self.err("a `\\u` escape is half a surrogate pair"));
                        }
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                    } else {
                        char::from_u32(hi)
                    };
                    out.push(c.ok_or_else(|| self.err("a `\\u` escape is half a surrogate pair"))?);
                }
                _ => return Err(self.err("a string has an unknown `\\` escape")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.err("a `\\u` escape needs four hex digits"))?;
        self.i += 4;
        u32::from_str_radix(h, 16).map_err(|_| self.err("a `\\u` escape needs four hex digits"))
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn json_number(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - s
    };
    let int_start = i;
    let n = digits(&mut i);
    if n == 0 || (n > 1 && b[int_start] == b'0') {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Lines as editors (and both readers here) count them: `\n`, `\r\n` and a
/// lone `\r` each end one.
pub fn line_count(text: &str) -> usize {
    let b = text.as_bytes();
    1 + b
        .iter()
        .enumerate()
        .filter(|&(i, &c)| c == b'\n' || (c == b'\r' && b.get(i + 1) != Some(&b'\n')))
        .count()
}

/// CloudFormation's YAML short forms
/// (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html>);
/// CloudFormation refuses any other local tag, so the lint does not count one as
/// "provided, value unknown".
const CFN_TAGS: &[&str] = &[
    "!And",
    "!Base64",
    "!Cidr",
    "!Condition",
    "!Equals",
    "!FindInMap",
    "!GetAtt",
    "!GetAZs",
    "!If",
    "!ImportValue",
    "!Join",
    "!Length",
    "!Not",
    "!Or",
    "!Ref",
    "!Select",
    "!Split",
    "!Sub",
    "!ToJsonString",
    "!Transform",
];

fn check_tag(tag: &Option<String>, line: usize, col: usize) -> Result<(), ParseError> {
    match tag.as_deref() {
        Some(t) if !t.starts_with(CORE_TAGS) && !CFN_TAGS.contains(&t) => Err(perr(
            line,
            col,
            "a YAML tag that is neither YAML's own (`!!str`) nor a CloudFormation function (`!Ref`, `!Sub`, `!GetAtt`, …); CloudFormation refuses it",
        )),
        _ => Ok(()),
    }
}

/// The prefix saphyr gives YAML's own `!!` tags.
const CORE_TAGS: &str = "tag:yaml.org,2002:";

/// YAML through saphyr's events: one document, no anchors or aliases, tags kept.
fn yaml(text: &str) -> Result<Node, ParseError> {
    use saphyr_parser::{Event, Parser, ScalarStyle};
    let mut stack: Vec<(Node, Option<Node>)> = Vec::new();
    let mut root: Option<Node> = None;
    let mut docs = 0;
    // saphyr puts an error at the end of the input on the line after the last
    // one; a position is clamped to the file's last line, at its end.
    let lines = line_count(text);
    let last_end = text
        .rsplit(['\n', '\r'])
        .next()
        .unwrap_or("")
        .chars()
        .count()
        + 1;
    let pos = |line: usize, col: usize| {
        if line > lines {
            (lines, last_end)
        } else {
            (line.max(1), col + 1)
        }
    };
    for ev in Parser::new_from_str(text) {
        let (ev, span) = ev.map_err(|e| {
            let (line, col) = pos(e.marker().line(), e.marker().col());
            perr(line, col, format!("not valid YAML: {}", e.info()))
        })?;
        let (line, col) = pos(span.start.line(), span.start.col());
        let tag_of = |t: &Option<Cow<'_, saphyr_parser::Tag>>| {
            t.as_ref().map(|t| format!("{}{}", t.handle, t.suffix))
        };
        let done = match ev {
            Event::DocumentStart(_) => {
                docs += 1;
                if docs > 1 {
                    return Err(perr(
                        line,
                        col,
                        "the file holds more than one YAML document",
                    ));
                }
                None
            }
            Event::Alias(_) => return Err(perr(
                line,
                col,
                "YAML aliases (`*name`) are not read (CloudFormation does not take them either)",
            )),
            Event::Scalar(v, style, anchor, tag) => {
                if anchor != 0 {
                    return Err(perr(line, col, "YAML anchors (`&name`) are not read (CloudFormation does not take them either)"));
                }
                let tag = tag_of(&tag);
                check_tag(&tag, line, col)?;
                // YAML's core tags (`!!str`, `!!int`, …) arrive as
                // `tag:yaml.org,2002:str`: they say how to read the scalar and are
                // no CloudFormation function.
                let core = tag
                    .as_deref()
                    .and_then(|t| t.strip_prefix(CORE_TAGS))
                    .map(String::from);
                let value = match core.as_deref() {
                    Some("str") => Value::String(v.into_owned()),
                    Some(_) => plain_scalar(&v),
                    None if style != ScalarStyle::Plain || tag.is_some() => {
                        Value::String(v.into_owned())
                    }
                    None => plain_scalar(&v),
                };
                Some(Node {
                    line,
                    col,
                    tag: tag.filter(|_| core.is_none()),
                    value,
                })
            }
            Event::SequenceStart(ref anchor, ref tag)
            | Event::MappingStart(ref anchor, ref tag) => {
                let anchor = *anchor;
                if anchor != 0 {
                    return Err(perr(line, col, "YAML anchors (`&name`) are not read (CloudFormation does not take them either)"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(perr(
                        line,
                        col,
                        format!("nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                check_tag(&tag_of(tag), line, col)?;
                let value = if matches!(ev, Event::SequenceStart(..)) {
                    Value::Seq(Vec::new())
                } else {
                    Value::Map(Vec::new())
                };
                stack.push((
                    Node {
                        line,
                        col,
                        tag: tag_of(tag).filter(|t| !t.starts_with(CORE_TAGS)),
                        value,
                    },
                    None,
                ));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => stack.pop().map(|(n, _)| n),
            _ => None,
        };
        if let Some(n) = done {
            match stack.last_mut() {
                None => root = Some(n),
                Some((parent, pending)) => match &mut parent.value {
                    Value::Seq(v) => v.push(n),
                    Value::Map(m) => match pending.take() {
                        None => *pending = Some(n),
                        Some(k) => m.push((k, n)),
                    },
                    _ => {}
                },
            }
        }
    }
    root.ok_or_else(|| perr(1, 1, "the file is empty"))
}

/// A plain YAML scalar by the core schema: null, booleans, numbers, else a string.
fn plain_scalar(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ if json_number(s) => Value::Number(s.to_string()),
        _ => Value::String(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_nodes_know_their_lines_and_columns() {
        let n = parse("{\n  \"a\": [1, \"x\\u00e9\"],\n\t\"b\": {\"c\": true}\n}").unwrap();
        let (k, v) = n.entry("A").unwrap();
        assert_eq!((k.line, k.col), (2, 3));
        assert_eq!(v.as_seq().unwrap()[1].as_str(), Some("xé"));
        assert_eq!(
            (v.as_seq().unwrap()[1].line, v.as_seq().unwrap()[1].col),
            (2, 12)
        );
        assert_eq!(n.get("b").unwrap().get("c").unwrap().as_bool(), Some(true));
        assert_eq!(n.get("b").unwrap().line, 3);
    }

    #[test]
    fn json_that_is_not_json_is_refused_with_its_position_and_never_quoted() {
        for (text, line) in [
            ("{\"a\": 1,}", 1),
            ("{\"a\": 01}", 1),
            ("[1, 2", 1),
            ("{\n\"a\": \"x\ny\"}", 2),
            ("{\"a\": tru}", 1),
            ("{\"a\": \"\\ud800\"}", 1),
            ("{} {}", 1),
            ("{\"a\": NaN_sk_live_CANARY}", 1),
            // Fuzzing: a backslash before a multi-byte character panicked.
            ("{\"a\": \"\\\u{feff}\"}", 1),
            ("{\"a\": \"x\\é\"}", 1),
            ("{\"a\": \"x\\", 1),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e:?}");
            assert!(!e.message.contains("CANARY"), "{e:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 5);
        assert!(parse(&deep).unwrap_err().message.contains("nested deeper"));
        assert!(parse("   ").is_err());
    }

    #[test]
    fn yaml_keeps_cloudformation_tags_and_positions() {
        let n = parse(
            "Resources:\n  T:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      TaskRoleArn: !GetAtt Role.Arn\n      Family: !Sub '${AWS::StackName}-api'\n      Cpu: 256\n      Ok: \"true\"\n",
        )
        .unwrap();
        let p = n
            .get("Resources")
            .unwrap()
            .get("T")
            .unwrap()
            .get("Properties")
            .unwrap();
        let role = p.get("TaskRoleArn").unwrap();
        assert_eq!(role.tag.as_deref(), Some("!GetAtt"));
        assert!(role.is_intrinsic() && role.as_str().is_none());
        assert_eq!((role.line, role.col), (5, 20));
        assert!(p.get("Family").unwrap().is_intrinsic());
        assert_eq!(p.get("Cpu").unwrap().value, Value::Number("256".into()));
        assert_eq!(p.get("Ok").unwrap().as_bool(), Some(true));
    }

    /// Fuzzing found saphyr's error at the end of a file without a final line
    /// break on the line after the last.
    #[test]
    fn a_yaml_error_at_the_end_points_inside_the_file() {
        for text in ["a: 1\nb", "a: 1\nbcd", "a:\n  - [1\n", "x: \"abc"] {
            let e = parse(text).unwrap_err();
            let lines = text.split('\n').count();
            assert!(e.line >= 1 && e.line <= lines, "{text:?}: {e:?}");
        }
        let e = parse("a: 1\nbcd").unwrap_err();
        assert_eq!((e.line, e.col), (2, 4), "{e:?}");
    }

    /// A minified file is one line: each node's column used to be counted from
    /// the line's start, which made a 4 MiB file take hours.
    #[test]
    fn a_minified_file_of_the_maximum_size_parses() {
        let n = (MAX_FILE_BYTES as usize - 2) / 2;
        let text = format!("[{}0]", "0,".repeat(n - 1));
        let root = parse(&text).unwrap();
        let last = root.as_seq().unwrap().last().unwrap();
        assert_eq!((last.line, last.col), (1, text.len() - 1));
        let text = format!("{{\"k\": \"{}é\", \"v\": 1}}", "é".repeat(1000));
        let root = parse(&text).unwrap();
        assert_eq!(root.entry("v").unwrap().0.col, 1012);
        assert_eq!(root.get("v").unwrap().col, 1017);
    }

    /// Hostile L7: a tag CloudFormation does not know is refused, not
    /// counted as an intrinsic function's value.
    #[test]
    fn unknown_yaml_tags_are_refused() {
        let e = parse("a: !Bogus x\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 4), "{e:?}");
        assert!(parse("a: !Bogus [1]\n").is_err());
        assert!(parse("a: !<tag:example.com,2000:x> y\n").is_err());
        for ok in [
            "a: !Ref X\n",
            "a: !GetAZs ''\n",
            "a: !!str 1\n",
            "a: !!int 1\n",
            "a: !If [c, 1, 2]\n",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
    }

    /// Hostile L3: a JSON file with lone-CR line ends is located on the lines
    /// an editor shows (it was all line 1).
    #[test]
    fn lone_carriage_returns_end_json_lines() {
        let n = parse("{\r  \"a\": 1,\r\n  \"b\": 2\r}").unwrap();
        assert_eq!(n.entry("a").unwrap().0.line, 2);
        assert_eq!(n.entry("b").unwrap().0.line, 3);
        assert_eq!(line_count("{\r\"a\"\r\n}"), 3);
        let e = parse("{\r\"a\": x}").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn yaml_anchors_aliases_and_many_documents_are_refused() {
        assert!(parse("a: &x [1]\nb: *x\n")
            .unwrap_err()
            .message
            .contains("anchors"));
        assert!(parse("a: 1\n---\nb: 2\n")
            .unwrap_err()
            .message
            .contains("more than one"));
        assert!(parse("a: [\n").is_err());
    }
}
