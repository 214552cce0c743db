//! The example headers of the `authres` Python package (authres 1.2.0 on PyPI, the
//! reference Authentication-Results library in Python) parsed by our
//! `mailauth_probes::authres::parse`, and compared header by header with what authres
//! expects.
//!
//! authres ships its examples as doctests (`authres/tests` and the docstring of
//! `authres/__init__.py`). Two kinds carry a header:
//! - **parsed**: `x = ….parse('Authentication-Results: …')`, followed by lines such as
//!   `str(x.results[0].method)` whose doctest output is the expected value. Each such line is a
//!   check: the same expression evaluated on our parse must give that output. A parse that
//!   authres rejects (`Syntax error: … at: <rest of the text>`) must be rejected by us at the
//!   same column.
//! - **generated**: `str(AuthenticationResultsHeader(…, results=[DKIMAuthenticationResult(
//!   result='pass', header_d='…'), …]))` whose output is a header. We parse that output and
//!   compare it with the constructor's arguments (method, version, result, reason,
//!   properties, comments). Which keyword argument is which `ptype.property`, and which class
//!   is which method, is read from the package's own sources
//!   (`make_result_class_properties('header', 'd')`, `METHOD = 'dkim'`).
//!
//! Every check must agree unless it is in [`KNOWN`] with our value and the reason; a listed
//! check that now agrees, or gives another value than the one listed, fails the test too.
//! docs/authres.md explains every listed difference.
//!
//! The package is not committed and this test never reaches the network: run
//! `contrib/fetch-test-data` (CI runs it) to download the sdist into `target/test-data/`.
//! The test extracts `authres-1.2.0/authres/` from it next to the sdist on first use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mailauth_probes::authres::{self, AuthResults, MethodResult, ParseError, Property};

/// The authres release whose examples we run (contrib/fetch-test-data pins the same).
const AUTHRES_VERSION: &str = "1.2.0";

/// Checks where we deliberately differ from authres: (a fragment of the header value that
/// only that header holds, the check, our value, why). docs/authres.md says more.
const KNOWN: &[(&str, &str, &str, &str)] = &[
    (
        "mail.example.org; x-tls=pass version=",
        "str(results[0])",
        "x-tls=pass version=TLSv1.2 cipher=ECDHE-RSA-CHACHA20-POLY1305 bits=256",
        BARE_PROPERTY,
    ),
    ("policy.iprev=2001:748:", "parse", "ok", UNQUOTED_IPV6),
    (
        "header.d=none;thehesiod.com;",
        "parse",
        "ok",
        RECIPIENT_DOMAIN,
    ),
    (
        "test.example.org; none (SPF not checked",
        "comments outside results",
        "",
        OUTSIDE_COMMENTS,
    ),
];
const OUTSIDE_COMMENTS: &str = "comments outside any result (after the authserv-id, the \
    version or `none`) are skipped: `AuthResults` has no place for them";
const BARE_PROPERTY: &str = "we keep a bare `name=value` after a result as a property without \
    ptype (Microsoft's `action=none`); authres drops it";
const UNQUOTED_IPV6: &str = "we accept `:` in an unquoted value (Exim writes \
    `smtp.remote-ip=2001:db8::1`); authres requires the IPv6 address quoted";
const RECIPIENT_DOMAIN: &str = "the bare `thehesiod.com` between results is the recipient \
    domain Microsoft writes there (tests/data/authres-corpus); a dotted token followed by `;` \
    cannot be a method, so we skip it and keep it in `recipient_domains`; authres rejects the field";

// ---------------------------------------------------------------------------------------
// The package: extracted once from the sdist that contrib/fetch-test-data downloaded.

fn test_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-data")
}

/// `target/test-data/authres-<version>/authres/`, extracted from the sdist if needed.
fn package_dir() -> PathBuf {
    let dir = test_data_dir();
    let pkg = dir.join(format!("authres-{AUTHRES_VERSION}/authres"));
    if pkg.join("tests").is_file() {
        return pkg;
    }
    let sdist = dir.join(format!("authres-{AUTHRES_VERSION}.tar.gz"));
    assert!(
        sdist.is_file(),
        "{} is missing: run contrib/fetch-test-data, which downloads the authres \
         {AUTHRES_VERSION} sdist from PyPI with pip (this test never uses the network)",
        sdist.display()
    );
    // Extract the package directory, then move it into place (atomic for concurrent runs).
    let tmp = tempfile::tempdir_in(&dir).expect("temporary directory");
    let member = format!("authres-{AUTHRES_VERSION}/authres");
    let out = Command::new("tar")
        .arg("-xzf")
        .arg(&sdist)
        .arg("-C")
        .arg(tmp.path())
        .arg(&member)
        .stdin(Stdio::null())
        .output()
        .expect("run tar to extract the authres sdist");
    assert!(
        out.status.success(),
        "tar could not extract {member} from {}: {}",
        sdist.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::create_dir_all(pkg.parent().unwrap()).unwrap();
    if let Err(e) = std::fs::rename(tmp.path().join(&member), &pkg) {
        // Another run may have put it there first.
        assert!(pkg.join("tests").is_file(), "move {member} into place: {e}");
    }
    pkg
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------
// What the package's sources say: each result class's method and keyword arguments.

#[derive(Default)]
struct Class {
    bases: Vec<(String, String)>,
    method: Option<String>,
    /// Keyword argument → (ptype, property, is it the property's comment).
    attrs: HashMap<String, (String, String, bool)>,
}

struct Classes(HashMap<(String, String), Class>);

/// `'text'` → `text`.
fn single_quoted(s: &str) -> Option<&str> {
    s.trim().strip_prefix('\'')?.strip_suffix('\'')
}

impl Classes {
    fn read(pkg: &Path) -> Classes {
        let mut classes = HashMap::new();
        let mut files: Vec<_> = std::fs::read_dir(pkg)
            .expect("list the package")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "py"))
            .collect();
        files.sort();
        for file in files {
            let module = file.file_stem().unwrap().to_string_lossy().to_string();
            let mut current: Option<(String, String)> = None;
            for line in read(&file).lines() {
                if let Some(rest) = line.strip_prefix("class ") {
                    let Some((name, bases)) = rest.split_once('(') else {
                        continue;
                    };
                    let bases = bases.split(')').next().unwrap_or("");
                    let bases = bases
                        .split(',')
                        .map(|b| {
                            let parts: Vec<&str> = b.trim().split('.').collect();
                            let class = parts.last().unwrap().to_string();
                            let base_module = match parts.len() {
                                1 => module.clone(),
                                _ => parts[parts.len() - 2].to_string(),
                            };
                            (base_module, class)
                        })
                        .collect();
                    let key = (module.clone(), name.trim().to_string());
                    classes.insert(
                        key.clone(),
                        Class {
                            bases,
                            ..Class::default()
                        },
                    );
                    current = Some(key);
                    continue;
                }
                let Some(class) = current.as_ref().and_then(|k| classes.get_mut(k)) else {
                    continue;
                };
                let t = line.trim();
                if let Some(v) = t.strip_prefix("METHOD = ") {
                    class.method = single_quoted(v).map(str::to_string);
                } else if let Some((names, call)) = t.split_once("= make_result_class_properties(")
                {
                    let args: Vec<&str> = call.trim_end_matches(')').split(',').collect();
                    let (Some(ptype), Some(name)) = (
                        args.first().and_then(|a| single_quoted(a)),
                        args.get(1).and_then(|a| single_quoted(a)),
                    ) else {
                        panic!("{}: cannot read `{t}`", file.display());
                    };
                    let names: Vec<&str> = names.split(',').map(str::trim).collect();
                    for (i, attr) in names.iter().enumerate() {
                        class
                            .attrs
                            .insert(attr.to_string(), (ptype.into(), name.into(), i > 0));
                    }
                }
            }
        }
        Classes(classes)
    }

    /// The class a constructor names: `authres.dkim_b.DKIMAuthenticationResult` is dkim_b's,
    /// `authres.X` and a bare `X` are core's (`from authres.core import *`).
    fn key(&self, path: &[String]) -> (String, String) {
        let class = path.last().cloned().unwrap_or_default();
        let module = match path.len() {
            n if n >= 2 && self.0.contains_key(&(path[n - 2].clone(), class.clone())) => {
                path[n - 2].clone()
            }
            _ => "core".to_string(),
        };
        (module, class)
    }

    fn method(&self, key: &(String, String)) -> Option<String> {
        let class = self.0.get(key)?;
        class
            .method
            .clone()
            .or_else(|| class.bases.iter().find_map(|b| self.method(b)))
    }

    fn attr(&self, key: &(String, String), attr: &str) -> Option<(String, String, bool)> {
        let class = self.0.get(key)?;
        class
            .attrs
            .get(attr)
            .cloned()
            .or_else(|| class.bases.iter().find_map(|b| self.attr(b, attr)))
    }

    /// A result accessor (`header_from`) of any class, for the parsed examples.
    fn accessor(&self, attr: &str) -> Option<(String, String)> {
        let mut found: Option<(String, String)> = None;
        for class in self.0.values() {
            if let Some((t, n, false)) = class.attrs.get(attr) {
                if let Some(f) = &found {
                    assert_eq!(
                        f,
                        &(t.clone(), n.clone()),
                        "accessor {attr} means two things"
                    );
                }
                found = Some((t.clone(), n.clone()));
            }
        }
        found
    }
}

// ---------------------------------------------------------------------------------------
// Doctest examples, and just enough Python to read them.

struct Example {
    origin: String,
    source: String,
    /// The expected output, lines joined.
    want: String,
}

fn examples(text: &str, file: &str) -> Vec<Example> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(first) = lines[i].trim_start().strip_prefix(">>>") else {
            i += 1;
            continue;
        };
        let origin = format!("{file}:{}", i + 1);
        let mut source = first.strip_prefix(' ').unwrap_or(first).to_string();
        i += 1;
        while let Some(more) = lines
            .get(i)
            .and_then(|l| l.trim_start().strip_prefix("..."))
        {
            if !(more.is_empty() || more.starts_with(' ')) {
                break;
            }
            source.push('\n');
            source.push_str(more.strip_prefix(' ').unwrap_or(more));
            i += 1;
        }
        let mut want = Vec::new();
        while let Some(l) = lines.get(i) {
            // A blank line, the next example, or the end of a docstring ends the output.
            if l.trim().is_empty() || l.trim_start().starts_with(">>>") || l.trim() == "\"\"\"" {
                break;
            }
            want.push(l.trim());
            i += 1;
        }
        out.push(Example {
            origin,
            source,
            want: want.join("\n"),
        });
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Str(String),
    Int(i64),
    P(char),
    Newline,
}

fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '\n' => {
                if depth == 0 && out.last().is_some_and(|t| *t != Tok::Newline) {
                    out.push(Tok::Newline);
                }
                i += 1;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '\'' | '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&d) = chars.get(i) else {
                        return Err("unterminated string".into());
                    };
                    i += 1;
                    match d {
                        _ if d == c => break,
                        '\\' => {
                            let e = *chars.get(i).ok_or("dangling backslash")?;
                            i += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                        _ => s.push(d),
                    }
                }
                // Adjacent literals concatenate.
                if let Some(Tok::Str(prev)) = out.last_mut() {
                    prev.push_str(&s);
                } else {
                    out.push(Tok::Str(s));
                }
            }
            _ if c.is_ascii_digit() => {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let n: String = chars[start..i].iter().collect();
                out.push(Tok::Int(n.parse().map_err(|e| format!("{n}: {e}"))?));
            }
            _ if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Name(chars[start..i].iter().collect()));
            }
            '(' | '[' => {
                depth += 1;
                out.push(Tok::P(c));
                i += 1;
            }
            ')' | ']' => {
                depth -= 1;
                out.push(Tok::P(c));
                i += 1;
            }
            ',' | '=' | '.' | ':' => {
                out.push(Tok::P(c));
                i += 1;
            }
            _ => return Err(format!("unexpected {c:?}")),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
enum Expr {
    Name(String),
    Str(String),
    Int(i64),
    List(Vec<Expr>),
    Attr(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Call(Box<Expr>, Vec<Expr>, Vec<(String, Expr)>),
}

#[derive(Debug)]
enum Stmt {
    Import,
    Assign(String, Expr),
    Expr(Expr),
    Try(Box<Stmt>),
    For(String, Expr, Vec<Stmt>),
}

struct Py {
    toks: Vec<Tok>,
    i: usize,
}

impl Py {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }
    fn next(&mut self) -> Result<Tok, String> {
        let t = self.toks.get(self.i).cloned().ok_or("unexpected end")?;
        self.i += 1;
        Ok(t)
    }
    fn expect(&mut self, want: &Tok) -> Result<(), String> {
        let t = self.next()?;
        if &t == want {
            Ok(())
        } else {
            Err(format!("expected {want:?}, found {t:?}"))
        }
    }
    fn newlines(&mut self) {
        while self.peek() == Some(&Tok::Newline) {
            self.i += 1;
        }
    }
    fn is_name(&self, n: &str) -> bool {
        matches!(self.peek(), Some(Tok::Name(x)) if x == n)
    }

    fn stmts(&mut self) -> Result<Vec<Stmt>, String> {
        let mut v = Vec::new();
        loop {
            self.newlines();
            if self.peek().is_none() {
                return Ok(v);
            }
            v.push(self.stmt()?);
        }
    }

    fn stmt(&mut self) -> Result<Stmt, String> {
        if self.is_name("import") || self.is_name("from") {
            while !matches!(self.peek(), None | Some(Tok::Newline)) {
                self.i += 1;
            }
            return Ok(Stmt::Import);
        }
        if self.is_name("try") {
            self.i += 1;
            self.expect(&Tok::P(':'))?;
            self.newlines();
            let body = self.stmt()?;
            self.newlines();
            if !self.is_name("except") {
                return Err("try without except".into());
            }
            while self.next()? != Tok::P(':') {}
            self.newlines();
            // The handler only prints the exception, which is the example's output.
            self.stmt()?;
            return Ok(Stmt::Try(Box::new(body)));
        }
        if self.is_name("for") {
            self.i += 1;
            let Tok::Name(var) = self.next()? else {
                return Err("for without a name".into());
            };
            if !self.is_name("in") {
                return Err("for without in".into());
            }
            self.i += 1;
            let iter = self.expr()?;
            self.expect(&Tok::P(':'))?;
            return Ok(Stmt::For(var, iter, self.stmts()?));
        }
        if let (Some(Tok::Name(n)), Some(Tok::P('='))) =
            (self.toks.get(self.i), self.toks.get(self.i + 1))
        {
            let n = n.clone();
            self.i += 2;
            return Ok(Stmt::Assign(n, self.expr()?));
        }
        Ok(Stmt::Expr(self.expr()?))
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut e = match self.next()? {
            Tok::Name(n) => Expr::Name(n),
            Tok::Str(s) => Expr::Str(s),
            Tok::Int(i) => Expr::Int(i),
            Tok::P('[') => {
                let mut items = Vec::new();
                while self.peek() != Some(&Tok::P(']')) {
                    items.push(self.expr()?);
                    if self.peek() == Some(&Tok::P(',')) {
                        self.i += 1;
                    }
                }
                self.i += 1;
                Expr::List(items)
            }
            Tok::P('(') => {
                let e = self.expr()?;
                self.expect(&Tok::P(')'))?;
                e
            }
            t => return Err(format!("unexpected {t:?}")),
        };
        loop {
            match self.peek() {
                Some(Tok::P('.')) => {
                    self.i += 1;
                    let Tok::Name(n) = self.next()? else {
                        return Err("`.` without a name".into());
                    };
                    e = Expr::Attr(Box::new(e), n);
                }
                Some(Tok::P('[')) => {
                    self.i += 1;
                    let idx = self.expr()?;
                    self.expect(&Tok::P(']'))?;
                    e = Expr::Index(Box::new(e), Box::new(idx));
                }
                Some(Tok::P('(')) => {
                    self.i += 1;
                    let (mut args, mut kwargs) = (Vec::new(), Vec::new());
                    while self.peek() != Some(&Tok::P(')')) {
                        match (self.toks.get(self.i), self.toks.get(self.i + 1)) {
                            (Some(Tok::Name(k)), Some(Tok::P('='))) => {
                                let k = k.clone();
                                self.i += 2;
                                kwargs.push((k, self.expr()?));
                            }
                            _ => args.push(self.expr()?),
                        }
                        if self.peek() == Some(&Tok::P(',')) {
                            self.i += 1;
                        }
                    }
                    self.i += 1;
                    e = Expr::Call(Box::new(e), args, kwargs);
                }
                _ => return Ok(e),
            }
        }
    }
}

/// `a.b.c` as its names.
fn dotted(e: &Expr) -> Option<Vec<String>> {
    match e {
        Expr::Name(n) => Some(vec![n.clone()]),
        Expr::Attr(inner, n) => {
            let mut v = dotted(inner)?;
            v.push(n.clone());
            Some(v)
        }
        _ => None,
    }
}

/// The name an attribute/index chain starts from.
fn root(e: &Expr) -> Option<&str> {
    match e {
        Expr::Name(n) => Some(n),
        Expr::Attr(inner, _) | Expr::Index(inner, _) => root(inner),
        _ => None,
    }
}

/// `x.results[0].method` without its root: `results[0].method`.
fn path_text(e: &Expr) -> String {
    match e {
        Expr::Name(_) => String::new(),
        Expr::Attr(inner, n) => {
            let p = path_text(inner);
            if p.is_empty() {
                n.clone()
            } else {
                format!("{p}.{n}")
            }
        }
        Expr::Index(inner, i) => match &**i {
            Expr::Int(i) => format!("{}[{i}]", path_text(inner)),
            _ => format!("{}[?]", path_text(inner)),
        },
        _ => "?".into(),
    }
}

/// A doctest output line as the value it shows: `'text'` or `"text"` unquoted.
fn unrepr(want: &str) -> String {
    let quoted = want.len() >= 2
        && ((want.starts_with('\'') && want.ends_with('\''))
            || (want.starts_with('"') && want.ends_with('"')));
    if !quoted {
        return want.to_string();
    }
    match tokenize(want).ok().as_deref() {
        Some([Tok::Str(s)]) => s.clone(),
        _ => want.to_string(),
    }
}

/// A parse call `something.parse('…')`: its string.
fn parse_call(e: &Expr) -> Option<&str> {
    match e {
        Expr::Call(f, args, kwargs) if kwargs.is_empty() => match (&**f, args.as_slice()) {
            (Expr::Attr(_, m), [Expr::Str(s)]) if m == "parse" => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// A header construction: `AuthenticationResultsHeader(…)` or a context's `.header(…)`.
fn header_call(e: &Expr) -> bool {
    match e {
        Expr::Call(f, _, _) => dotted(f)
            .and_then(|d| d.last().cloned())
            .is_some_and(|n| n == "AuthenticationResultsHeader" || n == "header"),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// Headers and their checks.

#[derive(Debug)]
struct Check {
    what: String,
    expected: String,
    ours: String,
}

struct Header {
    origin: String,
    generated: bool,
    value: String,
    ours: Result<AuthResults, ParseError>,
    checks: Vec<Check>,
}

/// The value after `Authentication-Results:` and white space, as authres parses it.
fn field_value(text: &str) -> String {
    let name = "Authentication-Results:";
    match text.get(..name.len()) {
        Some(n) if n.eq_ignore_ascii_case(name) => text[name.len()..].trim_start().to_string(),
        _ => panic!("not an Authentication-Results field: {text:?}"),
    }
}

fn outcome(r: &Result<AuthResults, ParseError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("error at column {}", e.position + 1),
    }
}

/// What authres's `str()` prints for a parsed result (parsed results carry no comments).
fn authres_str(m: &MethodResult) -> String {
    fn q(v: &str) -> String {
        let token = !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+.^_`{|}~-".contains(c));
        if v.contains('@') || token {
            v.to_string()
        } else {
            format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
        }
    }
    let mut s = m.method.clone();
    if let Some(v) = m.method_version {
        s += &format!("/{v}");
    }
    s += &format!("={}", m.result);
    if let Some(r) = &m.reason {
        s += &format!(" reason={}", q(r));
    }
    for p in &m.properties {
        let name = if p.ptype.is_empty() {
            p.name.clone()
        } else {
            format!("{}.{}", p.ptype, p.name)
        };
        s += &format!(" {name}={}", q(&p.value));
    }
    s
}

enum Val<'a> {
    Header(&'a AuthResults),
    Results(&'a [MethodResult]),
    Result(&'a MethodResult),
    Props(&'a [Property]),
    Prop(&'a Property),
    Str(Option<String>),
}

/// `e` (a chain from a parsed header's variable) on our parse, as `str()` prints it
/// (`printed`), or as the doctest shows a bare expression's value.
fn eval_path(
    e: &Expr,
    ours: &AuthResults,
    classes: &Classes,
    printed: bool,
) -> Result<String, String> {
    fn walk<'a>(e: &Expr, ours: &'a AuthResults, classes: &Classes) -> Result<Val<'a>, String> {
        Ok(match e {
            Expr::Name(_) => Val::Header(ours),
            Expr::Index(inner, i) => {
                let Expr::Int(i) = **i else {
                    return Err("index is not a number".into());
                };
                let i = i as usize;
                match walk(inner, ours, classes)? {
                    Val::Results(r) => Val::Result(r.get(i).ok_or(format!("no result {i}"))?),
                    Val::Props(p) => Val::Prop(p.get(i).ok_or(format!("no property {i}"))?),
                    _ => return Err("not a list".into()),
                }
            }
            Expr::Attr(inner, a) => match (walk(inner, ours, classes)?, a.as_str()) {
                (Val::Header(h), "authserv_id") => Val::Str(Some(h.authserv_id.clone())),
                (Val::Header(h), "version") => Val::Str(h.version.map(|v| v.to_string())),
                (Val::Header(h), "results") => Val::Results(&h.results),
                (Val::Result(m), "method") => Val::Str(Some(m.method.clone())),
                (Val::Result(m), "result") => Val::Str(Some(m.result.clone())),
                (Val::Result(m), "reason") => Val::Str(m.reason.clone()),
                (Val::Result(m), "version") => Val::Str(m.method_version.map(|v| v.to_string())),
                (Val::Result(m), "properties") => Val::Props(&m.properties),
                (Val::Prop(p), "type") => Val::Str(Some(p.ptype.clone())),
                (Val::Prop(p), "name") => Val::Str(Some(p.name.clone())),
                (Val::Prop(p), "value") => Val::Str(Some(p.value.clone())),
                (Val::Result(m), accessor) => {
                    let (t, n) = classes
                        .accessor(accessor)
                        .ok_or(format!("no class of authres has `{accessor}`"))?;
                    Val::Str(m.property(&t, &n).map(str::to_string))
                }
                (_, a) => return Err(format!("cannot evaluate `.{a}`")),
            },
            _ => return Err("not an attribute chain".into()),
        })
    }
    Ok(match walk(e, ours, classes)? {
        Val::Str(Some(s)) => s,
        Val::Str(None) if printed => "None".into(),
        Val::Str(None) => String::new(),
        Val::Result(m) => authres_str(m),
        _ => return Err("not a printable value".into()),
    })
}

/// The header a constructor describes, from its arguments.
struct Expected {
    authserv_id: String,
    version: Option<String>,
    comments: Vec<String>,
    results: Vec<ExpectedResult>,
}

#[derive(Default)]
struct ExpectedResult {
    method: String,
    version: Option<String>,
    result: String,
    reason: Option<String>,
    properties: Vec<String>,
    comments: Vec<String>,
}

fn scalar(e: &Expr) -> Option<String> {
    match e {
        Expr::Str(s) => Some(s.clone()),
        Expr::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn expected_header(
    call: &Expr,
    vars: &HashMap<String, Expr>,
    classes: &Classes,
) -> Result<Expected, String> {
    let Expr::Call(_, args, kwargs) = call else {
        return Err("not a call".into());
    };
    let mut out = Expected {
        authserv_id: args.first().and_then(scalar).unwrap_or_default(),
        version: None,
        comments: Vec::new(),
        results: Vec::new(),
    };
    for (k, v) in kwargs {
        match k.as_str() {
            "authserv_id" => out.authserv_id = scalar(v).ok_or("authserv_id")?,
            "version" => out.version = scalar(v),
            "authserv_id_comment" | "version_comment" => {
                out.comments.push(scalar(v).ok_or("comment")?)
            }
            "results" => {
                let Expr::List(items) = v else {
                    return Err("results is not a list".into());
                };
                for item in items {
                    let call = match item {
                        Expr::Name(n) => vars.get(n).ok_or(format!("unknown variable {n}"))?,
                        other => other,
                    };
                    if let Some(r) = expected_result(call, classes, &mut out.comments)? {
                        out.results.push(r);
                    }
                }
            }
            other => return Err(format!("unknown header argument {other}")),
        }
    }
    Ok(out)
}

fn expected_result(
    call: &Expr,
    classes: &Classes,
    header_comments: &mut Vec<String>,
) -> Result<Option<ExpectedResult>, String> {
    let Expr::Call(f, args, kwargs) = call else {
        return Err("a result is not a constructor call".into());
    };
    if !args.is_empty() {
        return Err("positional arguments to a result".into());
    }
    let path = dotted(f).ok_or("constructor name")?;
    if path.last().map(String::as_str) == Some("NoneAuthenticationResult") {
        for (k, v) in kwargs {
            if k != "comment" {
                return Err(format!("unknown argument {k} of NoneAuthenticationResult"));
            }
            header_comments.push(scalar(v).ok_or("comment")?);
        }
        return Ok(None);
    }
    let key = classes.key(&path);
    let mut r = ExpectedResult {
        method: classes
            .method(&key)
            .ok_or(format!("no METHOD for {}", path.join(".")))?,
        ..ExpectedResult::default()
    };
    for (k, v) in kwargs {
        let v = scalar(v).ok_or(format!("argument {k} is not a literal"))?;
        match k.as_str() {
            "result" => r.result = v,
            "reason" => r.reason = Some(v),
            "version" => r.version = Some(v),
            "result_comment" | "reason_comment" => r.comments.push(v),
            attr => match classes.attr(&key, attr) {
                Some((_, _, true)) => r.comments.push(v),
                Some((t, n, false)) => r.properties.push(format!("{t}.{n}={v}")),
                None => return Err(format!("{} has no argument {attr}", key.1)),
            },
        }
    }
    Ok(Some(r))
}

fn sorted(mut v: Vec<String>) -> String {
    v.sort();
    v.join(" | ")
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "None".into())
}

/// Checks of a generated header: our parse of the text against the constructor.
fn generated_checks(ours: &AuthResults, exp: &Expected) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut check = |what: String, expected: String, ours: String| {
        checks.push(Check {
            what,
            expected,
            ours,
        })
    };
    check(
        "authserv_id".into(),
        exp.authserv_id.clone(),
        ours.authserv_id.clone(),
    );
    check(
        "version".into(),
        opt(&exp.version),
        opt(&ours.version.map(|v| v.to_string())),
    );
    // `AuthResults` has no place for these: always empty on our side.
    check(
        "comments outside results".into(),
        sorted(exp.comments.clone()),
        String::new(),
    );
    check(
        "len(results)".into(),
        exp.results.len().to_string(),
        ours.results.len().to_string(),
    );
    for (i, (e, o)) in exp.results.iter().zip(&ours.results).enumerate() {
        check(
            format!("results[{i}].method"),
            e.method.clone(),
            o.method.clone(),
        );
        check(
            format!("results[{i}].version"),
            opt(&e.version),
            opt(&o.method_version.map(|v| v.to_string())),
        );
        check(
            format!("results[{i}].result"),
            e.result.clone(),
            o.result.clone(),
        );
        check(
            format!("results[{i}].reason"),
            opt(&e.reason),
            opt(&o.reason),
        );
        check(
            format!("results[{i}].properties"),
            sorted(e.properties.clone()),
            sorted(
                o.properties
                    .iter()
                    .map(|p| format!("{}.{}={}", p.ptype, p.name, p.value))
                    .collect(),
            ),
        );
        check(
            format!("results[{i}].comments"),
            sorted(e.comments.clone()),
            sorted(o.comments.clone()),
        );
    }
    checks
}

/// The column authres's `Syntax error: … at: <the rest, 40 characters>...` points at.
fn authres_error_column(value: &str, want: &str) -> String {
    let (_, rest) = want
        .split_once(" at: ")
        .unwrap_or_else(|| panic!("no position in {want:?}"));
    let rest = rest.strip_suffix("...").unwrap_or(rest);
    let position = value
        .find(rest)
        .unwrap_or_else(|| panic!("{rest:?} is not in {value:?}"));
    format!("error at column {}", position + 1)
}

struct Run {
    headers: Vec<Header>,
    /// Examples that carry no header to compare, by why.
    skipped: HashMap<&'static str, usize>,
}

fn run(pkg: &Path) -> Run {
    let classes = Classes::read(pkg);
    let mut run = Run {
        headers: Vec::new(),
        skipped: HashMap::new(),
    };
    for file in ["__init__.py", "tests"] {
        let text = read(&pkg.join(file));
        // The doctest globals of one file: parsed headers and constructed objects.
        let mut parsed: HashMap<String, usize> = HashMap::new();
        let mut vars: HashMap<String, Expr> = HashMap::new();
        for ex in examples(&text, file) {
            let stmts = Py {
                toks: tokenize(&ex.source)
                    .unwrap_or_else(|e| panic!("{}: {e} in {:?}", ex.origin, ex.source)),
                i: 0,
            }
            .stmts()
            .unwrap_or_else(|e| panic!("{}: {e} in {:?}", ex.origin, ex.source));
            let [stmt] = stmts.as_slice() else {
                panic!("{}: {} statements in one example", ex.origin, stmts.len());
            };
            let attribute_error = ex.want.contains("object has no attribute");
            let skipped = &mut run.skipped;
            let mut skip = |why: &'static str| *skipped.entry(why).or_default() += 1;
            let assignment = match stmt {
                Stmt::Assign(var, e) => Some((var, e)),
                Stmt::Try(body) => match &**body {
                    Stmt::Assign(var, e) => Some((var, e)),
                    _ => None,
                },
                _ => None,
            };
            if let Some((var, text)) = assignment.and_then(|(v, e)| Some((v, parse_call(e)?))) {
                let value = field_value(text);
                let ours = authres::parse(&value);
                let expected = if ex.want.is_empty() {
                    "ok".to_string()
                } else if ex.want.starts_with("Syntax error") {
                    authres_error_column(&value, &ex.want)
                } else {
                    panic!("{}: unexpected output {:?}", ex.origin, ex.want);
                };
                // Python binds the variable only when authres parsed it.
                if expected == "ok" {
                    parsed.insert(var.clone(), run.headers.len());
                } else {
                    parsed.remove(var);
                }
                vars.remove(var);
                run.headers.push(Header {
                    origin: ex.origin.clone(),
                    generated: false,
                    value,
                    checks: vec![Check {
                        what: "parse".into(),
                        ours: outcome(&ours),
                        expected,
                    }],
                    ours,
                });
                continue;
            }
            match stmt {
                Stmt::Import => skip("setup (import)"),
                Stmt::Assign(var, e) => {
                    skip("setup (objects to build headers from)");
                    parsed.remove(var);
                    vars.insert(var.clone(), e.clone());
                }
                Stmt::Try(_) if attribute_error => {
                    skip("authres's typed accessors (AttributeError)")
                }
                Stmt::Expr(e) => {
                    let (inner, printed) = match e {
                        Expr::Call(f, args, kw)
                            if matches!(&**f, Expr::Name(n) if n == "str")
                                && args.len() == 1
                                && kw.is_empty() =>
                        {
                            (&args[0], true)
                        }
                        other => (other, false),
                    };
                    if header_call(inner) {
                        let text = unrepr(&ex.want);
                        let value = field_value(&text);
                        let ours = authres::parse(&value);
                        let exp = expected_header(inner, &vars, &classes)
                            .unwrap_or_else(|e| panic!("{}: {e}", ex.origin));
                        let checks = match &ours {
                            Ok(r) => generated_checks(r, &exp),
                            Err(_) => vec![Check {
                                what: "parse".into(),
                                expected: "ok".into(),
                                ours: outcome(&ours),
                            }],
                        };
                        run.headers.push(Header {
                            origin: ex.origin.clone(),
                            generated: true,
                            value,
                            ours,
                            checks,
                        });
                    } else if let Some(&h) = root(inner).and_then(|r| parsed.get(r)) {
                        if attribute_error {
                            skip("authres's typed accessors (AttributeError)");
                            continue;
                        }
                        let header = &mut run.headers[h];
                        let what = if printed {
                            format!("str({})", path_text(inner))
                        } else {
                            path_text(inner)
                        };
                        let ours = match &header.ours {
                            Ok(r) => eval_path(inner, r, &classes, printed)
                                .unwrap_or_else(|e| format!("<{e}>")),
                            Err(e) => format!("<no parse: {e}>"),
                        };
                        header.checks.push(Check {
                            what,
                            expected: unrepr(&ex.want),
                            ours,
                        });
                    } else {
                        skip("not about parsing (match_signature and the like)");
                    }
                }
                Stmt::For(var, iter, body) => {
                    let h = match iter {
                        Expr::Attr(r, a) if a == "results" => {
                            root(r).and_then(|r| parsed.get(r)).copied()
                        }
                        _ => None,
                    }
                    .unwrap_or_else(|| panic!("{}: a loop over something else", ex.origin));
                    let attrs: Vec<&str> = body
                        .iter()
                        .map(|s| match s {
                            Stmt::Expr(Expr::Attr(r, a)) if root(r) == Some(var) => a.as_str(),
                            _ => panic!("{}: a loop body we cannot read", ex.origin),
                        })
                        .collect();
                    let wants: Vec<&str> = ex.want.lines().collect();
                    let header = &mut run.headers[h];
                    let results = header
                        .ours
                        .as_ref()
                        .map(|r| r.results.as_slice())
                        .unwrap_or(&[]);
                    header.checks.push(Check {
                        what: "len(results)".into(),
                        expected: (wants.len() / attrs.len().max(1)).to_string(),
                        ours: results.len().to_string(),
                    });
                    for (k, m) in results.iter().enumerate() {
                        for (j, a) in attrs.iter().enumerate() {
                            let Some(want) = wants.get(k * attrs.len() + j) else {
                                continue;
                            };
                            let ours = match *a {
                                "method" => m.method.clone(),
                                "result" => m.result.clone(),
                                other => panic!("{}: loop over .{other}", ex.origin),
                            };
                            header.checks.push(Check {
                                what: format!("results[{k}].{a}"),
                                expected: unrepr(want),
                                ours,
                            });
                        }
                    }
                }
                Stmt::Try(_) => panic!("{}: a try we cannot read: {:?}", ex.origin, ex.source),
            }
        }
    }
    run
}

#[test]
fn authres_doctest_examples() {
    let pkg = package_dir();
    let run = run(&pkg);

    // Every header in the sources was found: each `.parse('…')` and each constructed header.
    let mut sources = String::new();
    for file in ["__init__.py", "tests"] {
        sources += &read(&pkg.join(file));
    }
    let parse_calls = sources.matches(".parse('").count();
    let generated_outputs = sources
        .lines()
        .filter(|l| {
            l.starts_with("'Authentication-Results:") || l.starts_with("\"Authentication-Results:")
        })
        .count();
    let (generated, parsed): (Vec<&Header>, Vec<&Header>) =
        run.headers.iter().partition(|h| h.generated);
    assert_eq!(
        parsed.len(),
        parse_calls,
        "parse calls in the sources vs headers read"
    );
    assert_eq!(
        generated.len(),
        generated_outputs,
        "constructed headers vs headers read"
    );
    assert!(
        run.headers.len() >= 40,
        "only {} headers",
        run.headers.len()
    );

    let mut known_used = vec![false; KNOWN.len()];
    let mut problems = Vec::new();
    let (mut checks, mut agree, mut known) = (0, 0, 0);
    println!("authres {AUTHRES_VERSION} doctest headers:");
    for h in &run.headers {
        let mut status = Vec::new();
        for c in &h.checks {
            checks += 1;
            let listed = KNOWN
                .iter()
                .position(|(frag, what, _, _)| h.value.contains(frag) && *what == c.what);
            if let Some(k) = listed {
                known_used[k] = true;
            }
            match (c.expected == c.ours, listed) {
                (true, None) => agree += 1,
                (true, Some(_)) => problems.push(format!(
                    "{} {}: listed in KNOWN but now agrees ({}): remove it from KNOWN and docs/authres.md",
                    h.origin, c.what, c.ours
                )),
                (false, Some(k)) if KNOWN[k].2 == c.ours => {
                    known += 1;
                    status.push(format!("known: {} = {:?}", c.what, c.ours));
                }
                (false, Some(k)) => problems.push(format!(
                    "{} {}: KNOWN lists {:?} but ours is {:?} (authres: {:?})",
                    h.origin, c.what, KNOWN[k].2, c.ours, c.expected
                )),
                (false, None) => problems.push(format!(
                    "{} {}: authres expects {:?}, ours {:?} in {:?}: fix it or list it in KNOWN with its reason",
                    h.origin, c.what, c.expected, c.ours, h.value
                )),
            }
        }
        println!(
            "  {:<16} {:<9} {:>2} checks  {}{}",
            h.origin,
            if h.generated { "generated" } else { "parsed" },
            h.checks.len(),
            h.value,
            if status.is_empty() {
                String::new()
            } else {
                format!("\n{:<30}[{}]", "", status.join("; "))
            }
        );
    }
    for (i, used) in known_used.iter().enumerate() {
        if !used {
            problems.push(format!("KNOWN entry {:?} matches no check", KNOWN[i].0));
        }
    }
    let mut skipped: Vec<_> = run.skipped.iter().collect();
    skipped.sort();
    println!(
        "{} headers ({} parsed, {} constructed), {checks} checks: {agree} agree, {known} known differences, {} problems; examples without a header: {}",
        run.headers.len(),
        parsed.len(),
        generated.len(),
        problems.len(),
        skipped
            .iter()
            .map(|(why, n)| format!("{n} {why}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(checks >= 200, "only {checks} checks");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
