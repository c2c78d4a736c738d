//! What a JavaScript file imports, read with a real ECMAScript parser (oxc): bundles
//! hold template literals, regular expressions and comments that look like imports
//! to a scanner. Each import carries how Node reaches it (static, `require`,
//! `import()`), whether it runs when the module loads, and the `NODE_ENV`
//! comparisons that guard it, so the caller can judge it against the image's ENV.

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    BinaryOperator, BindingPattern, CallExpression, ConditionalExpression, Expression, Function,
    IfStatement, ImportExpression, LogicalExpression, LogicalOperator, Statement, UnaryOperator,
    VariableDeclarator,
};
use oxc_ast_visit::{walk, Visit};
use oxc_parser::Parser;
use oxc_span::{GetSpan, SourceType};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// `import … from`, `import "x"`, `export … from`: linked before any code runs.
    Static,
    /// `require("x")` (or esbuild's `__require("x")`).
    Require,
    /// `import("x")` with a literal.
    Dynamic,
}

/// Where the environment comes from in a guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvSource {
    /// `process.env.NODE_ENV`: unset is `undefined`.
    ProcessEnv,
    /// Express's `app.get("env")`: `NODE_ENV`, or `"development"` when unset.
    ExpressEnv,
}

/// `NODE_ENV == value` (or `!=` when `negated`), as the source wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cond {
    pub source: EnvSource,
    pub value: String,
    pub negated: bool,
    /// The comparison's source text, for messages.
    pub text: String,
}

impl Cond {
    /// Whether the comparison holds when the container's `NODE_ENV` is `env`.
    pub fn holds(&self, env: Option<&str>) -> bool {
        let actual = match (self.source, env) {
            (_, Some(v)) => Some(v),
            (EnvSource::ExpressEnv, None) => Some("development"),
            (EnvSource::ProcessEnv, None) => None,
        };
        (actual == Some(self.value.as_str())) != self.negated
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The specifier exactly as written.
    pub spec: String,
    pub line: u32,
    pub how: How,
    /// Runs while the module loads: a static import, a `require` or an
    /// `import()` outside any function (or in one called on the spot: an IIFE,
    /// as bundlers and UMD wrap modules). A top-level `import()` that is not
    /// awaited still fails the start: its rejection is unhandled, and Node 15+
    /// exits on that.
    pub at_load: bool,
    /// The guards on the way, each with the truth value its branch needs.
    pub guards: Vec<(Cond, bool)>,
    /// Inside a `try` block of the same function (with a `catch` that neither
    /// rethrows nor exits): a failure is the code's to handle, as
    /// `try { require("bufferutil") } catch {}` does; for an `import()`, only
    /// when awaited there, or with its own `.catch()` (or `.then(ok, err)`).
    pub caught: bool,
    /// The import attribute `type` (`with { type: "json" }`), which Node's ESM
    /// loader requires for JSON.
    pub attr_type: Option<String>,
}

pub enum Parsed {
    Ok {
        imports: Vec<Import>,
        /// The file has `import`/`export` syntax.
        esm: bool,
    },
    Failed(String),
}

/// The parser and the visitor recurse once per nesting level: they run on a
/// thread with this much stack (reserved, touched only as deep as a file goes).
const STACK: usize = 1 << 30;
/// Nesting a file may have (brackets, or a run of prefix operators) before it is
/// refused rather than parsed; 100,000 levels need well under [`STACK`].
pub const MAX_NESTING: usize = 100_000;

/// An upper bound on the bracket nesting and the longest run of prefix
/// operators (`!!!!x`), counted over the raw text (strings and comments
/// included, so it errs on the deep side).
fn nesting(text: &str) -> usize {
    let (mut depth, mut max, mut run, mut max_run) = (0usize, 0usize, 0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if matches!(b, b'!' | b'~' | b'+' | b'-') {
            run += 1;
            max_run = max_run.max(run);
        } else if !b.is_ascii_whitespace() {
            run = 0;
        }
    }
    max.max(max_run)
}

/// `module`: the file is ESM by its name or its package's `"type"`; `None` lets
/// the parser decide from the syntax, as Node 22 does.
pub fn parse(text: &str, module: Option<bool>) -> Parsed {
    let n = nesting(text);
    if n > MAX_NESTING {
        return Parsed::Failed(format!(
            "nested {n} levels deep, more than the {MAX_NESTING} image-check parses"
        ));
    }
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("js-parse".into())
            .stack_size(STACK)
            .spawn_scoped(s, || parse_here(text, module))
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Parsed::Failed("the parser failed".into()))
            })
            .unwrap_or_else(|e| Parsed::Failed(format!("no thread to parse on: {e}")))
    })
}

fn parse_here(text: &str, module: Option<bool>) -> Parsed {
    let st = match module {
        Some(true) => SourceType::mjs(),
        Some(false) => SourceType::cjs(),
        None => SourceType::unambiguous(),
    };
    let alloc = Allocator::default();
    let ret = Parser::new(&alloc, text, st).parse();
    if ret.panicked {
        let why = ret
            .diagnostics
            .first()
            .map(|d| d.to_string())
            .unwrap_or_else(|| "a syntax error".into());
        return Parsed::Failed(why);
    }
    let esm = ret.module_record.has_module_syntax;
    let mut v = Collector {
        text,
        lines: line_starts(text),
        functions: Vec::new(),
        depth: 0,
        guards: Vec::new(),
        awaited: Vec::new(),
        out: Vec::new(),
        tries: 0,
        saved_tries: Vec::new(),
        iife: HashSet::new(),
        transparent_next: false,
        handled: HashSet::new(),
        require_names: HashSet::new(),
        env_aliases: HashMap::new(),
        cond_aliases: HashMap::new(),
    };
    v.visit_program(&ret.program);
    Parsed::Ok {
        imports: v.out,
        esm,
    }
}

fn line_starts(text: &str) -> Vec<u32> {
    std::iter::once(0)
        .chain(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i as u32 + 1),
        )
        .collect()
}

struct Collector<'t> {
    text: &'t str,
    lines: Vec<u32>,
    /// One entry per scope: whether it is a function's.
    functions: Vec<bool>,
    depth: usize,
    guards: Vec<(Cond, bool)>,
    /// Start offsets of `import()` expressions that are directly awaited.
    awaited: Vec<u32>,
    out: Vec<Import>,
    /// `try` blocks (with a `catch`) open in the current function.
    tries: usize,
    /// `tries` of the enclosing functions: a function defined in a `try` runs
    /// later, outside it.
    saved_tries: Vec<usize>,
    /// Start offsets of functions called where they are written (IIFEs): their
    /// bodies run when the enclosing code does.
    iife: HashSet<u32>,
    /// The next function scope entered is an IIFE's.
    transparent_next: bool,
    /// Start offsets of `import()`s whose rejection the code handles.
    handled: HashSet<u32>,
    /// Names bound to `createRequire(import.meta.url)` (or `__filename`).
    require_names: HashSet<String>,
    /// `const {NODE_ENV} = process.env`, `const env = process.env.NODE_ENV`.
    env_aliases: HashMap<String, EnvSource>,
    /// `const isProd = process.env.NODE_ENV === "production"`.
    cond_aliases: HashMap<String, Cond>,
}

impl Collector<'_> {
    fn line(&self, offset: u32) -> u32 {
        self.lines.partition_point(|&s| s <= offset) as u32
    }

    fn push(&mut self, spec: &str, offset: u32, how: How, at_load: bool) {
        self.out.push(Import {
            spec: spec.to_string(),
            line: self.line(offset),
            how,
            at_load,
            guards: self.guards.clone(),
            caught: self.tries > 0,
            attr_type: None,
        })
    }

    /// [`Self::push`] of a static import with its `with` clause.
    fn push_static(&mut self, spec: &str, offset: u32, with: Option<&oxc_ast::ast::WithClause>) {
        self.push(spec, offset, How::Static, true);
        let t = with.and_then(|w| {
            w.with_entries
                .iter()
                .find(|a| match &a.key {
                    oxc_ast::ast::ImportAttributeKey::Identifier(i) => i.name == "type",
                    oxc_ast::ast::ImportAttributeKey::StringLiteral(s) => s.value == "type",
                })
                .map(|a| a.value.value.to_string())
        });
        if let Some(i) = self.out.last_mut() {
            i.attr_type = t;
        }
    }

    fn snippet(&self, e: &Expression) -> String {
        let s = e.span();
        let t = self
            .text
            .get(s.start as usize..s.end as usize)
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if t.chars().count() > 80 {
            format!("{}…", t.chars().take(80).collect::<String>())
        } else {
            t
        }
    }

    /// A `NODE_ENV` comparison with a string literal, through `!` and parentheses
    /// (or a `const` holding one).
    fn cond(&self, e: &Expression) -> Option<Cond> {
        match e.without_parentheses() {
            Expression::Identifier(id) => self.cond_aliases.get(id.name.as_str()).cloned(),
            Expression::UnaryExpression(u) if u.operator == UnaryOperator::LogicalNot => {
                let mut c = self.cond(&u.argument)?;
                c.negated = !c.negated;
                c.text = self.snippet(e);
                Some(c)
            }
            Expression::BinaryExpression(b) => {
                let negated = match b.operator {
                    BinaryOperator::StrictEquality | BinaryOperator::Equality => false,
                    BinaryOperator::StrictInequality | BinaryOperator::Inequality => true,
                    _ => return None,
                };
                let (source, value) = match (self.env_source(&b.left), literal(&b.right)) {
                    (Some(s), Some(v)) => (s, v),
                    _ => (self.env_source(&b.right)?, literal(&b.left)?),
                };
                Some(Cond {
                    source,
                    value,
                    negated,
                    text: self.snippet(e),
                })
            }
            _ => None,
        }
    }

    /// The guards a branch taken when `e` is `truth` needs: for `true`, every
    /// recognised operand of a chain of `&&` must hold; for `false`, every
    /// recognised operand of a chain of `||` must fail. (The other operands are
    /// not known here; a branch one recognised operand rules out is not taken.)
    fn conds(&self, e: &Expression, truth: bool) -> Vec<(Cond, bool)> {
        if let Some(c) = self.cond(e) {
            return vec![(c, truth)];
        }
        match e.without_parentheses() {
            Expression::LogicalExpression(l)
                if (truth && l.operator == LogicalOperator::And)
                    || (!truth && l.operator == LogicalOperator::Or) =>
            {
                let mut v = self.conds(&l.left, truth);
                v.extend(self.conds(&l.right, truth));
                v
            }
            _ => vec![],
        }
    }

    fn guarded(&mut self, c: Vec<(Cond, bool)>, f: impl FnOnce(&mut Self)) {
        let n = c.len();
        self.guards.extend(c);
        f(self);
        self.guards.truncate(self.guards.len() - n);
    }

    /// `process.env.NODE_ENV` (also through `?.`, `globalThis.process`, and a
    /// `const` holding it), or Express's `app.get("env")`.
    fn env_source(&self, e: &Expression) -> Option<EnvSource> {
        if let Expression::Identifier(id) = e.without_parentheses() {
            return self.env_aliases.get(id.name.as_str()).copied();
        }
        env_source(e)
    }
}

/// `process.env`, `globalThis.process.env`, optional chains included.
fn is_process_env(e: &Expression) -> bool {
    match member(e) {
        Some((obj, "env")) => match obj.without_parentheses() {
            Expression::Identifier(id) => id.name == "process",
            other => {
                matches!(member(other), Some((g, "process")) if matches!(g.without_parentheses(), Expression::Identifier(id) if id.name == "globalThis"))
            }
        },
        _ => false,
    }
}

/// `obj.prop` or `obj["prop"]` (inside an optional chain too): the object and
/// the property's name.
fn member<'e, 'a>(e: &'e Expression<'a>) -> Option<(&'e Expression<'a>, &'e str)> {
    use oxc_ast::ast::ChainElement;
    match e.without_parentheses() {
        Expression::StaticMemberExpression(m) => Some((&m.object, m.property.name.as_str())),
        Expression::ComputedMemberExpression(m) => match &m.expression {
            Expression::StringLiteral(s) => Some((&m.object, s.value.as_str())),
            _ => None,
        },
        Expression::ChainExpression(c) => match &c.expression {
            ChainElement::StaticMemberExpression(m) => Some((&m.object, m.property.name.as_str())),
            ChainElement::ComputedMemberExpression(m) => match &m.expression {
                Expression::StringLiteral(s) => Some((&m.object, s.value.as_str())),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// The function a call invokes where it is written: `(function () {…})()`,
/// `(() => {…})()`, `(function () {…}).call(this)`.
fn iife_target(callee: &Expression) -> Option<u32> {
    let f = |e: &Expression| match e.without_parentheses() {
        Expression::FunctionExpression(f) => Some(f.span.start),
        Expression::ArrowFunctionExpression(a) => Some(a.span.start),
        _ => None,
    };
    f(callee).or_else(|| match member(callee) {
        Some((obj, "call" | "apply")) => f(obj),
        _ => None,
    })
}

/// The `import()` at the root of `import(…).then(…).catch(…)`.
fn chained_import(e: &Expression) -> Option<u32> {
    match e.without_parentheses() {
        Expression::ImportExpression(i) => Some(i.span.start),
        Expression::CallExpression(c) => match member(&c.callee) {
            Some((obj, "then" | "catch" | "finally")) => chained_import(obj),
            _ => None,
        },
        _ => None,
    }
}

/// A `catch` block that throws again or exits does not handle the failure.
fn rethrows(h: &oxc_ast::ast::CatchClause) -> bool {
    h.body.body.iter().any(|st| match st {
        Statement::ThrowStatement(_) => true,
        Statement::ExpressionStatement(e) => matches!(
            e.expression.without_parentheses(),
            Expression::CallExpression(c) if c.callee.is_specific_member_access("process", "exit")
        ),
        _ => false,
    })
}

impl Collector<'_> {
    /// Node's `require` as the code calls it: `require`, esbuild's `__require`,
    /// a `createRequire(import.meta.url)` binding, `module.require`,
    /// `require.resolve` (which throws the same way), `(0, require)`.
    fn is_require(&self, callee: &Expression) -> bool {
        match callee.without_parentheses() {
            Expression::Identifier(id) => {
                id.name == "require"
                    || id.name == "__require"
                    || self.require_names.contains(id.name.as_str())
            }
            Expression::SequenceExpression(s) => {
                s.expressions.last().is_some_and(|e| self.is_require(e))
            }
            e => match member(e) {
                Some((obj, "require")) => obj.is_specific_id("module"),
                Some((obj, "resolve")) => self.is_require(obj),
                _ => false,
            },
        }
    }
}

/// `{ with: { type: "json" } }` (or `assert`), an `import()`'s second argument.
fn import_options_type(e: &Expression) -> Option<String> {
    let with = object_prop(e, "with").or_else(|| object_prop(e, "assert"))?;
    object_prop(with, "type").and_then(literal)
}

/// The value of property `name` of an object literal.
fn object_prop<'e, 'a>(e: &'e Expression<'a>, name: &str) -> Option<&'e Expression<'a>> {
    let Expression::ObjectExpression(o) = e.without_parentheses() else {
        return None;
    };
    o.properties.iter().find_map(|p| match p {
        oxc_ast::ast::ObjectPropertyKind::ObjectProperty(p)
            if p.key.static_name().as_deref() == Some(name) =>
        {
            Some(&p.value)
        }
        _ => None,
    })
}

/// `createRequire(import.meta.url)` (or `module.createRequire`, or with
/// `__filename`): a `require` resolving from this file.
fn is_create_require(e: &Expression) -> bool {
    let Expression::CallExpression(c) = e.without_parentheses() else {
        return false;
    };
    let named = c.callee.is_specific_id("createRequire")
        || matches!(member(&c.callee), Some((_, "createRequire")));
    let here = c.arguments.first().and_then(|a| a.as_expression()).is_some_and(|a| {
        a.is_specific_id("__filename")
            || matches!(member(a), Some((m, "url")) if matches!(m.without_parentheses(), Expression::MetaProperty(_)))
    });
    named && here
}

/// A string the source spells out: a literal, a template without
/// substitutions, or `+` of those (`require("gh" + "ost")`).
fn literal(e: &Expression) -> Option<String> {
    match e.without_parentheses() {
        Expression::StringLiteral(s) => Some(s.value.to_string()),
        Expression::TemplateLiteral(t) => t.single_quasi().map(|s| s.to_string()),
        Expression::BinaryExpression(b) if b.operator == BinaryOperator::Addition => {
            Some(literal(&b.left)? + &literal(&b.right)?)
        }
        _ => None,
    }
}

fn env_source(e: &Expression) -> Option<EnvSource> {
    if let Some((obj, "NODE_ENV")) = member(e) {
        return is_process_env(obj).then_some(EnvSource::ProcessEnv);
    }
    match e.without_parentheses() {
        // `app.get("env")`: Express's setting, whatever the app object is called.
        Expression::CallExpression(c) if c.arguments.len() == 1 => {
            let Expression::StaticMemberExpression(m) = c.callee.without_parentheses() else {
                return None;
            };
            let arg = c.arguments[0].as_expression().and_then(literal);
            (m.property.name == "get" && arg.as_deref() == Some("env"))
                .then_some(EnvSource::ExpressEnv)
        }
        _ => None,
    }
}

impl<'a> Visit<'a> for Collector<'_> {
    fn enter_scope(
        &mut self,
        flags: oxc_syntax::scope::ScopeFlags,
        _id: &Cell<Option<oxc_syntax::scope::ScopeId>>,
    ) {
        let f = flags.contains(oxc_syntax::scope::ScopeFlags::Function)
            && !std::mem::take(&mut self.transparent_next);
        self.functions.push(f);
        self.depth += f as usize;
        if f {
            self.saved_tries.push(self.tries);
            self.tries = 0;
        }
    }

    fn leave_scope(&mut self) {
        if self.functions.pop() == Some(true) {
            self.depth -= 1;
            self.tries = self.saved_tries.pop().unwrap_or(0);
        }
    }

    fn visit_function(&mut self, it: &Function<'a>, flags: oxc_syntax::scope::ScopeFlags) {
        self.transparent_next = self.iife.contains(&it.span.start);
        walk::walk_function(self, it, flags);
    }

    fn visit_arrow_function_expression(&mut self, it: &oxc_ast::ast::ArrowFunctionExpression<'a>) {
        self.transparent_next = self.iife.contains(&it.span.start);
        walk::walk_arrow_function_expression(self, it);
    }

    fn visit_variable_declarator(&mut self, it: &VariableDeclarator<'a>) {
        // webpack's (and ncc's) module table: the main chunk's modules are
        // the ones `__webpack_require__` runs from the entry at start.
        if it.id.get_identifier_name().as_deref() == Some("__webpack_modules__") {
            if let Some(Expression::ObjectExpression(o)) =
                it.init.as_ref().map(|e| e.without_parentheses())
            {
                for p in &o.properties {
                    if let oxc_ast::ast::ObjectPropertyKind::ObjectProperty(p) = p {
                        match p.value.without_parentheses() {
                            Expression::FunctionExpression(f) => {
                                self.iife.insert(f.span.start);
                            }
                            Expression::ArrowFunctionExpression(a) => {
                                self.iife.insert(a.span.start);
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        if let Some(init) = &it.init {
            match &it.id {
                BindingPattern::BindingIdentifier(id) => {
                    let name = id.name.to_string();
                    if let Some(src) = self.env_source(init) {
                        self.env_aliases.insert(name, src);
                    } else if let Some(mut c) = self.cond(init) {
                        c.text = format!("{name} = {}", c.text);
                        self.cond_aliases.insert(name, c);
                    } else if is_create_require(init) || self.is_require(init) {
                        // `const req = createRequire(import.meta.url)`, `const r = require`.
                        self.require_names.insert(name);
                    }
                }
                // `const { NODE_ENV } = process.env`, `{ NODE_ENV: env }`.
                BindingPattern::ObjectPattern(o) if is_process_env(init) => {
                    for p in &o.properties {
                        if p.key.static_name().as_deref() == Some("NODE_ENV") {
                            if let Some(n) = p.value.get_identifier_name() {
                                self.env_aliases
                                    .insert(n.to_string(), EnvSource::ProcessEnv);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        walk::walk_variable_declarator(self, it);
    }

    fn visit_try_statement(&mut self, it: &oxc_ast::ast::TryStatement<'a>) {
        let catches = it.handler.as_ref().is_some_and(|h| !rethrows(h)) as usize;
        self.tries += catches;
        self.visit_block_statement(&it.block);
        self.tries -= catches;
        if let Some(h) = &it.handler {
            self.visit_catch_clause(h);
        }
        if let Some(f) = &it.finalizer {
            self.visit_block_statement(f);
        }
    }

    fn visit_import_declaration(&mut self, it: &oxc_ast::ast::ImportDeclaration<'a>) {
        if !it.import_kind.is_type() {
            self.push_static(&it.source.value, it.span.start, it.with_clause.as_deref());
        }
    }

    fn visit_export_named_declaration(&mut self, it: &oxc_ast::ast::ExportNamedDeclaration<'a>) {
        if let Some(s) = &it.source {
            if !it.export_kind.is_type() {
                self.push_static(&s.value, it.span.start, it.with_clause.as_deref());
            }
        }
        walk::walk_export_named_declaration(self, it);
    }

    fn visit_export_all_declaration(&mut self, it: &oxc_ast::ast::ExportAllDeclaration<'a>) {
        if !it.export_kind.is_type() {
            self.push_static(&it.source.value, it.span.start, it.with_clause.as_deref());
        }
    }

    fn visit_await_expression(&mut self, it: &oxc_ast::ast::AwaitExpression<'a>) {
        if let Expression::ImportExpression(i) = it.argument.without_parentheses() {
            self.awaited.push(i.span.start);
        }
        walk::walk_await_expression(self, it);
    }

    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        if let Some(spec) = literal(&it.source) {
            let start = it.span.start;
            let awaited = self.awaited.contains(&start);
            self.push(&spec, start, How::Dynamic, self.depth == 0);
            let attr = it.options.as_ref().and_then(import_options_type);
            if let Some(i) = self.out.last_mut() {
                // A `try` catches an `import()` only when it is awaited inside it.
                i.caught = (i.caught && awaited) || self.handled.contains(&start);
                i.attr_type = attr;
            }
        }
        walk::walk_import_expression(self, it);
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if let Some(f) = iife_target(&it.callee) {
            self.iife.insert(f);
        }
        // `import(…).catch(…)` and `import(…).then(ok, err)` handle the rejection.
        match member(&it.callee) {
            Some((obj, "catch")) if !it.arguments.is_empty() => {
                self.handled.extend(chained_import(obj));
            }
            Some((obj, "then")) if it.arguments.len() >= 2 => {
                self.handled.extend(chained_import(obj));
            }
            _ => {}
        }
        if self.is_require(&it.callee) && !it.arguments.is_empty() {
            if let Some(spec) = it.arguments[0].as_expression().and_then(literal) {
                let at_load = self.depth == 0;
                self.push(&spec, it.span.start, How::Require, at_load);
            }
        }
        walk::walk_call_expression(self, it);
    }

    fn visit_if_statement(&mut self, it: &IfStatement<'a>) {
        self.visit_expression(&it.test);
        let yes = self.conds(&it.test, true);
        self.guarded(yes, |v| v.visit_statement(&it.consequent));
        if let Some(alt) = &it.alternate {
            let no = self.conds(&it.test, false);
            self.guarded(no, |v| v.visit_statement(alt));
        }
    }

    fn visit_conditional_expression(&mut self, it: &ConditionalExpression<'a>) {
        self.visit_expression(&it.test);
        let (yes, no) = (self.conds(&it.test, true), self.conds(&it.test, false));
        self.guarded(yes, |v| v.visit_expression(&it.consequent));
        self.guarded(no, |v| v.visit_expression(&it.alternate));
    }

    fn visit_logical_expression(&mut self, it: &LogicalExpression<'a>) {
        self.visit_expression(&it.left);
        let truth = match it.operator {
            LogicalOperator::And => true,
            LogicalOperator::Or => false,
            LogicalOperator::Coalesce => return self.visit_expression(&it.right),
        };
        let c = self.conds(&it.left, truth);
        self.guarded(c, |v| v.visit_expression(&it.right));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imports(src: &str, module: Option<bool>) -> Vec<Import> {
        match parse(src, module) {
            Parsed::Ok { imports, .. } => imports,
            Parsed::Failed(e) => panic!("parse failed: {e}"),
        }
    }

    fn specs(v: &[Import]) -> Vec<(&str, u32, How, bool)> {
        v.iter()
            .map(|i| (i.spec.as_str(), i.line, i.how, i.at_load))
            .collect()
    }

    #[test]
    fn every_import_form_with_lines() {
        let src = r#"import express from "express";
import "./side-effect.js";
export { x } from "./x.js";
export * from "@scope/pkg/sub";
const pg = require("pg");
function later() { return require("stripe"); }
const lazy = () => import("openai");
await import("./boot.js");
import(`./tpl.js`).then(() => {});
const ignored = require(name), alsoIgnored = import(someVar);
"#;
        let got = imports(src, Some(true));
        assert_eq!(
            specs(&got),
            vec![
                ("express", 1, How::Static, true),
                ("./side-effect.js", 2, How::Static, true),
                ("./x.js", 3, How::Static, true),
                ("@scope/pkg/sub", 4, How::Static, true),
                ("pg", 5, How::Require, true),
                ("stripe", 6, How::Require, false),
                ("openai", 7, How::Dynamic, false),
                ("./boot.js", 8, How::Dynamic, true),
                // Not awaited, but its rejection is unhandled: Node exits.
                ("./tpl.js", 9, How::Dynamic, true),
            ]
        );
    }

    /// A scanner finds `import "ghost"` here; Node does not.
    #[test]
    fn comments_strings_templates_and_regexes_are_not_imports() {
        let src = r#"// import "ghost";
/* require("ghost") */
const s = `import "ghost"`;
const t = 'require("ghost")';
const r = /import "ghost"/;
const html = `<script>import("ghost")</script>`;
"#;
        assert!(imports(src, Some(true)).is_empty());
        assert!(imports(src, None).is_empty());
    }

    /// `ws` and others probe optional native modules this way; Node does not fail.
    #[test]
    fn requires_in_try_blocks_are_caught_unless_in_a_later_function() {
        let src = r#"try { require("bufferutil"); } catch (e) { require("fallback"); }
try { var f = function () { return require("later"); }; } catch {}
try { await import("opt"); } finally { }
"#;
        let got = imports(src, Some(true));
        let caught: Vec<(&str, bool)> = got.iter().map(|i| (i.spec.as_str(), i.caught)).collect();
        assert_eq!(
            caught,
            vec![
                ("bufferutil", true),
                ("fallback", false),
                ("later", false),
                ("opt", false)
            ]
        );
    }

    #[test]
    fn node_env_guards_are_recorded() {
        let src = r#"
if (process.env.NODE_ENV !== "production") {
  const { createServer } = await import("vite");
} else {
  require("./static.cjs");
}
const x = app.get("env") === "development" ? require("a") : require("b");
"production" == process.env["NODE_ENV"] && require("c");
"#;
        let got = imports(src, Some(true));
        let vite = &got[0];
        assert_eq!(vite.spec, "vite");
        assert!(vite.at_load);
        assert_eq!(vite.guards.len(), 1);
        let (c, truth) = &vite.guards[0];
        assert!(truth);
        assert!(c.holds(None), "unset NODE_ENV takes the development branch");
        assert!(!c.holds(Some("production")));
        assert_eq!(c.text, "process.env.NODE_ENV !== \"production\"");
        let (c, truth) = &got[1].guards[0];
        assert!(
            !truth && c.holds(None),
            "the else branch is not taken when unset"
        );
        // Express defaults `env` to development.
        let (c, truth) = &got[2].guards[0];
        assert_eq!(got[2].spec, "a");
        assert!(*truth && c.holds(None) && !c.holds(Some("production")));
        let (c, truth) = &got[4].guards[0];
        assert_eq!(got[4].spec, "c");
        assert!(*truth && c.holds(Some("production")));
    }

    /// Hostile H1: bundlers and UMD wrap modules in functions called on the
    /// spot; their requires run at load, as Node runs them.
    #[test]
    fn iife_wrapped_requires_run_at_load() {
        let src = r#"(function () { require("a"); })();
(() => { require("b"); })();
!function () { require("c"); }();
(function () { require("d"); }).call(this);
(async () => { await import("e"); })();
function later() { require("f"); }
const g = function () { require("g"); };
(function () { function inner() { require("h"); } })();
"#;
        let got = imports(src, Some(false));
        let at: Vec<(&str, bool)> = got.iter().map(|i| (i.spec.as_str(), i.at_load)).collect();
        assert_eq!(
            at,
            vec![
                ("a", true),
                ("b", true),
                ("c", true),
                ("d", true),
                ("e", true),
                ("f", false),
                ("g", false),
                ("h", false)
            ]
        );
    }

    /// Hostile H2: a top-level `import()` fails the start however it is
    /// written (awaited, chained, in `Promise.all`, held in a variable), since
    /// an unhandled rejection ends Node 15+; one with its own `.catch()` or a
    /// `.then` rejection handler does not.
    #[test]
    fn top_level_import_calls_fail_the_start_unless_handled() {
        let src = r#"import("a");
await import("b").then((m) => m);
await Promise.all([import("c")]);
const p = import("d"); await p;
import("e").catch(() => {});
import("f").then(() => {}, () => {});
import("g").then(() => {}).catch(() => {});
try { import("h"); } catch {}
try { await import("i"); } catch {}
"#;
        let got = imports(src, Some(true));
        let at: Vec<(&str, bool, bool)> = got
            .iter()
            .map(|i| (i.spec.as_str(), i.at_load, i.caught))
            .collect();
        assert_eq!(
            at,
            vec![
                ("a", true, false),
                ("b", true, false),
                ("c", true, false),
                ("d", true, false),
                ("e", true, true),
                ("f", true, true),
                ("g", true, true),
                // A `try` does not catch a rejection it does not await.
                ("h", true, false),
                ("i", true, true),
            ]
        );
    }

    /// Hostile H1 (webpack, ncc): the main chunk's module table runs from the
    /// entry at start.
    #[test]
    fn webpack_module_table_runs_at_load() {
        let src = r#"var __webpack_modules__ = ({
  860: ((module) => { module.exports = require("express"); }),
  17: (function (module) { module.exports = require("path"); }),
});
function __webpack_require__(id) { return __webpack_modules__[id](); }
var other = { 1: (module) => { module.exports = require("lazy"); } };
"#;
        let got = imports(src, Some(false));
        let at: Vec<(&str, bool)> = got.iter().map(|i| (i.spec.as_str(), i.at_load)).collect();
        assert_eq!(at, vec![("express", true), ("path", true), ("lazy", false)]);
    }

    /// Hostile L1: a `catch` that throws again or exits handles nothing.
    #[test]
    fn catch_that_rethrows_or_exits_does_not_handle_the_failure() {
        let src = r#"try { require("a"); } catch (e) { throw e; }
try { require("b"); } catch { process.exit(1); }
try { require("c"); } catch { console.warn("optional c missing"); }
"#;
        let got = imports(src, Some(false));
        let caught: Vec<bool> = got.iter().map(|i| i.caught).collect();
        assert_eq!(caught, vec![false, false, true]);
    }

    /// Hostile M1: the spellings of `require` Node's own loader honours.
    #[test]
    fn require_spellings_are_requires() {
        let src = r#"import { createRequire } from "node:module";
const req = createRequire(import.meta.url);
req("a");
module.require("b");
require.resolve("c");
(0, require)("d");
require("e", {});
const other = createRequire("/elsewhere/");
other("not-this-file");
"#;
        let src = format!("{src}const r = require;\nr(\"f\");\nrequire(\"g\" + \"h\");\n");
        let got = imports(&src, Some(true));
        let specs: Vec<(&str, How)> = got.iter().map(|i| (i.spec.as_str(), i.how)).collect();
        assert_eq!(
            specs,
            vec![
                ("node:module", How::Static),
                ("a", How::Require),
                ("b", How::Require),
                ("c", How::Require),
                ("d", How::Require),
                ("e", How::Require),
                ("f", How::Require),
                ("gh", How::Require)
            ]
        );
    }

    /// Hostile M2: `NODE_ENV` guards as apps spell them; each branch's guard is
    /// judged with `NODE_ENV=production` and with it unset.
    #[test]
    fn node_env_guard_spellings_are_recognised() {
        let cases = [
            "const { NODE_ENV } = process.env;\nif (NODE_ENV !== \"production\") await import(\"x\");",
            "const env = process.env.NODE_ENV;\nif (env !== \"production\") await import(\"x\");",
            "const isProd = process.env.NODE_ENV === \"production\";\nif (!isProd) await import(\"x\");",
            "if (process.env.NODE_ENV !== \"production\" && other) await import(\"x\");",
            "if (process?.env?.NODE_ENV !== \"production\") await import(\"x\");",
            "if (globalThis.process.env.NODE_ENV !== \"production\") await import(\"x\");",
            "if (process.env.NODE_ENV === \"production\" || other) {} else await import(\"x\");",
        ];
        for src in cases {
            let got = imports(src, Some(true));
            assert_eq!(got.len(), 1, "{src}");
            let holds = |env| {
                got[0].guards.iter().all(|(c, t)| c.holds(env) == *t) && !got[0].guards.is_empty()
            };
            assert!(!holds(Some("production")), "{src}: {:?}", got[0].guards);
            assert!(holds(None), "{src}: {:?}", got[0].guards);
        }
    }

    #[test]
    fn commonjs_and_unambiguous_files_parse() {
        let cjs = "'use strict';\nconst a = require('a');\nmodule.exports = a;\nreturn;\n";
        assert!(matches!(
            parse(cjs, Some(false)),
            Parsed::Ok { esm: false, .. }
        ));
        let esm = "import a from 'a';\nexport default a;\n";
        assert!(matches!(parse(esm, None), Parsed::Ok { esm: true, .. }));
        assert!(matches!(parse("const = ;", None), Parsed::Failed(_)));
    }

    /// A hostile bundle nested as deep as image-check allows parses without
    /// overflowing the stack; one level deeper is refused, not parsed.
    #[test]
    fn deep_nesting_is_parsed_or_refused_never_a_crash() {
        let n = MAX_NESTING;
        for src in [
            format!("x = {}1{};", "(".repeat(n), ")".repeat(n)),
            format!("x = {}1;", "!".repeat(n)),
            format!("{}{}", "{".repeat(n), "}".repeat(n)),
            format!("x = 1{};", "+1".repeat(n)),
            format!("x = {}0;", "a?1:".repeat(n)),
            format!("x = {}1;", "()=>".repeat(n)),
        ] {
            assert!(matches!(parse(&src, Some(true)), Parsed::Ok { .. }));
        }
        let src = format!("x = {}1{};", "[".repeat(n + 1), "]".repeat(n + 1));
        assert!(matches!(parse(&src, Some(true)), Parsed::Failed(e) if e.contains("nested")));
    }
}
