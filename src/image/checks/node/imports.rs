//! What a JavaScript file imports, read with a real ECMAScript parser (oxc): bundles
//! hold template literals, regular expressions and comments that look like imports
//! to a scanner. Each import carries how Node reaches it (static, `require`,
//! `import()`), whether it runs when the module loads, and the `NODE_ENV`
//! comparisons that guard it, so the caller can judge it against the image's ENV.

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    BinaryOperator, CallExpression, ConditionalExpression, Expression, IfStatement,
    ImportExpression, LogicalExpression, LogicalOperator, UnaryOperator,
};
use oxc_ast_visit::{walk, Visit};
use oxc_parser::Parser;
use oxc_span::{GetSpan, SourceType};
use std::cell::Cell;

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
    /// Runs while the module loads: a static import, a `require` outside any
    /// function, or an `import()` awaited outside any function.
    pub at_load: bool,
    /// The guards on the way, each with the truth value its branch needs.
    pub guards: Vec<(Cond, bool)>,
    /// Inside a `try` block of the same function (with a `catch`): a failure is
    /// the code's to handle, as `try { require("bufferutil") } catch {}` does.
    pub caught: bool,
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
        })
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

    /// A `NODE_ENV` comparison with a string literal, through `!` and parentheses.
    fn cond(&self, e: &Expression) -> Option<Cond> {
        match e.without_parentheses() {
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
                let (source, value) = match (env_source(&b.left), literal(&b.right)) {
                    (Some(s), Some(v)) => (s, v),
                    _ => (env_source(&b.right)?, literal(&b.left)?),
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

    fn guarded(&mut self, c: Option<Cond>, truth: bool, f: impl FnOnce(&mut Self)) {
        match c {
            Some(c) => {
                self.guards.push((c, truth));
                f(self);
                self.guards.pop();
            }
            None => f(self),
        }
    }
}

fn literal(e: &Expression) -> Option<String> {
    match e.without_parentheses() {
        Expression::StringLiteral(s) => Some(s.value.to_string()),
        Expression::TemplateLiteral(t) => t.single_quasi().map(|s| s.to_string()),
        _ => None,
    }
}

fn env_source(e: &Expression) -> Option<EnvSource> {
    match e.without_parentheses() {
        Expression::StaticMemberExpression(m) if m.property.name == "NODE_ENV" => m
            .object
            .is_specific_member_access("process", "env")
            .then_some(EnvSource::ProcessEnv),
        Expression::ComputedMemberExpression(m)
            if literal(&m.expression).as_deref() == Some("NODE_ENV") =>
        {
            m.object
                .is_specific_member_access("process", "env")
                .then_some(EnvSource::ProcessEnv)
        }
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
        let f = flags.contains(oxc_syntax::scope::ScopeFlags::Function);
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

    fn visit_try_statement(&mut self, it: &oxc_ast::ast::TryStatement<'a>) {
        let catches = it.handler.is_some() as usize;
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
            self.push(&it.source.value, it.span.start, How::Static, true);
        }
    }

    fn visit_export_named_declaration(&mut self, it: &oxc_ast::ast::ExportNamedDeclaration<'a>) {
        if let Some(s) = &it.source {
            if !it.export_kind.is_type() {
                self.push(&s.value, it.span.start, How::Static, true);
            }
        }
        walk::walk_export_named_declaration(self, it);
    }

    fn visit_export_all_declaration(&mut self, it: &oxc_ast::ast::ExportAllDeclaration<'a>) {
        if !it.export_kind.is_type() {
            self.push(&it.source.value, it.span.start, How::Static, true);
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
            let at_load = self.depth == 0 && self.awaited.contains(&it.span.start);
            self.push(&spec, it.span.start, How::Dynamic, at_load);
        }
        walk::walk_import_expression(self, it);
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if (it.callee.is_specific_id("require") || it.callee.is_specific_id("__require"))
            && it.arguments.len() == 1
        {
            if let Some(spec) = it.arguments[0].as_expression().and_then(literal) {
                let at_load = self.depth == 0;
                self.push(&spec, it.span.start, How::Require, at_load);
            }
        }
        walk::walk_call_expression(self, it);
    }

    fn visit_if_statement(&mut self, it: &IfStatement<'a>) {
        self.visit_expression(&it.test);
        let c = self.cond(&it.test);
        self.guarded(c.clone(), true, |v| v.visit_statement(&it.consequent));
        if let Some(alt) = &it.alternate {
            self.guarded(c, false, |v| v.visit_statement(alt));
        }
    }

    fn visit_conditional_expression(&mut self, it: &ConditionalExpression<'a>) {
        self.visit_expression(&it.test);
        let c = self.cond(&it.test);
        self.guarded(c.clone(), true, |v| v.visit_expression(&it.consequent));
        self.guarded(c, false, |v| v.visit_expression(&it.alternate));
    }

    fn visit_logical_expression(&mut self, it: &LogicalExpression<'a>) {
        self.visit_expression(&it.left);
        let truth = match it.operator {
            LogicalOperator::And => true,
            LogicalOperator::Or => false,
            LogicalOperator::Coalesce => return self.visit_expression(&it.right),
        };
        let c = self.cond(&it.left);
        self.guarded(c, truth, |v| v.visit_expression(&it.right));
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
                ("./tpl.js", 9, How::Dynamic, false),
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
