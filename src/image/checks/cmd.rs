//! What the container would run: ENTRYPOINT+CMD resolved against WORKDIR and PATH.
//!
//! Wrappers (`tini`, `dumb-init`, our own `preflight --`) are looked through to the
//! real command; an interpreter (`node`, `python`) must be on PATH and its script
//! must be a regular, non-empty file after following symlinks.

use super::unresolved;
use crate::image::checks::config::env_value;
use crate::image::fs::{display, FlatFs, Kind, ResolveError};
use crate::report::{CheckOutcome, Code, Finding};
use oci_spec::image::ImageConfiguration;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const WRAPPERS: &[&str] = &[
    "tini",
    "tini-static",
    "dumb-init",
    "preflight",
    "docker-entrypoint.sh",
    "catatonit",
];
/// Wrappers whose first non-flag argument is a user, not the command.
const USER_WRAPPERS: &[&str] = &["gosu", "su-exec"];
const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh"];

fn base(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// `name`, or `name` with a version as distributions and version managers
/// install it: `node20`, `node-20`, `nodejs18`, `python3.11`, `node-v20.11.0`.
fn versioned(b: &str, name: &str) -> bool {
    let Some(rest) = b.strip_prefix(name) else {
        return false;
    };
    let rest = rest.strip_prefix(['-', '_']).unwrap_or(rest);
    let rest = rest.strip_prefix('v').unwrap_or(rest);
    rest.is_empty()
        || (rest.starts_with(|c: char| c.is_ascii_digit())
            && rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Interpreters and the flags of theirs that take a value (so the value is not
/// mistaken for the script).
fn interpreter(prog: &str) -> Option<&'static [&'static str]> {
    let b = base(prog);
    let is = |name: &str| versioned(b, name);
    if is("node") || is("nodejs") {
        return Some(&[
            "-r",
            "--require",
            "--import",
            "--loader",
            "--experimental-loader",
            "--env-file",
            "--conditions",
            "-C",
            "--title",
        ]);
    }
    if is("python") || is("ruby") || is("perl") || is("php") {
        return Some(&["-W", "-X", "-I"]);
    }
    if is("deno") || is("bun") {
        return Some(&[]);
    }
    None
}

/// Strips wrappers; returns the argv that does the real work.
fn unwrap(argv: &[String]) -> Vec<String> {
    let mut argv: Vec<String> = argv.to_vec();
    loop {
        let Some(first) = argv.first() else {
            return argv;
        };
        let b = base(first).to_string();
        if WRAPPERS.contains(&b.as_str()) || USER_WRAPPERS.contains(&b.as_str()) {
            let rest = &argv[1..];
            let next: Vec<String> = if let Some(i) = rest.iter().position(|a| a == "--") {
                rest[i + 1..].to_vec()
            } else {
                let mut i = rest.iter().take_while(|a| a.starts_with('-')).count();
                if USER_WRAPPERS.contains(&b.as_str()) {
                    i += 1;
                }
                rest.get(i..).unwrap_or(&[]).to_vec()
            };
            if next.is_empty() {
                return argv;
            }
            argv = next;
            continue;
        }
        return argv;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script {
    /// The script argument (after [`resolve`], joined with WORKDIR).
    Path(String),
    NotAFile(String),
    None,
}

/// `interp` is the interpreter's own name (what the command resolved to when the
/// command's name did not say, as with `py -> python3.11`).
fn script_of(argv: &[String], interp: &str, takes_value: &[&str]) -> Script {
    let prog = base(interp);
    let mut i = 1;
    if (prog == "deno" || prog == "bun") && argv.get(1).map(String::as_str) == Some("run") {
        i = 2;
    }
    while i < argv.len() {
        let a = argv[i].as_str();
        match a {
            "-e" | "--eval" | "-p" | "--print" | "-c" | "-m" => {
                return Script::NotAFile(format!(
                    "`{} {a} …` runs code, not a script file",
                    argv[0]
                ));
            }
            a if takes_value.contains(&a) => i += 2,
            a if a.starts_with('-') => i += 1,
            a => return Script::Path(a.to_string()),
        }
    }
    Script::None
}

fn join(workdir: &str, p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{}/{p}", workdir.trim_end_matches('/'))
    }
}

/// Finds a program the way execvp would: a path with a slash as is, else each
/// PATH entry in order; only executable regular files count.
fn find_program(
    fs: &FlatFs,
    prog: &str,
    workdir: &str,
    path_var: &str,
) -> Result<String, Vec<String>> {
    let candidates: Vec<String> = if prog.contains('/') {
        vec![join(workdir, prog)]
    } else {
        path_var
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| join(d, prog))
            .collect()
    };
    for c in &candidates {
        if let Ok((k, n)) = fs.lookup(c) {
            if n.kind == Kind::File && n.mode & 0o111 != 0 {
                return Ok(display(&k));
            }
        }
    }
    Err(candidates)
}

/// What ENTRYPOINT+CMD runs, as far as the image says: the program the kernel
/// execs (wrappers looked through) and, for an interpreter, its script argument.
/// The script is joined with WORKDIR but not looked up: each check decides what a
/// missing or odd script means to it.
#[derive(Debug, Clone)]
pub struct CmdTarget {
    /// ENTRYPOINT+CMD as JSON, for messages.
    pub shown: String,
    pub workdir: String,
    /// The real command's program, resolved on PATH (an image path).
    pub program: String,
    /// The name that made the program an interpreter (`node`, `python3.11`, or the
    /// link target that says so), when it is one.
    pub interpreter: Option<String>,
    pub script: Script,
}

impl CmdTarget {
    /// The script a Node interpreter runs (an absolute image path), if that is what
    /// the command does.
    pub fn node_script(&self) -> Option<&str> {
        let i = self.interpreter.as_deref()?;
        let b = base(i);
        match &self.script {
            Script::Path(p) if versioned(b, "node") || versioned(b, "nodejs") => Some(p),
            _ => None,
        }
    }
}

/// Resolves ENTRYPOINT+CMD; the `Err` is the one finding that says why the target
/// cannot be known (no command, a shell string, a program not on PATH).
pub fn resolve(fs: &FlatFs, cfg: &ImageConfiguration) -> Result<CmdTarget, Finding> {
    let c = cfg.config().clone().unwrap_or_default();
    let entrypoint = c.entrypoint().clone().unwrap_or_default();
    let cmd = c.cmd().clone().unwrap_or_default();
    let argv: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
    if argv.is_empty() {
        return Err(Finding::error(
            Code::CmdMissing,
            "CMD",
            "the image has neither ENTRYPOINT nor CMD, so the container has nothing to run",
        )
        .hint("add `CMD [\"node\", \"dist/index.js\"]` (exec form) to the final stage"));
    }
    let workdir = c
        .working_dir()
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    let env = c.env().clone().unwrap_or_default();
    let path_var = env_value(&env, "PATH").unwrap_or(DEFAULT_PATH).to_string();
    let shown = serde_json::to_string(&argv).unwrap_or_default();

    // Every program on the way (wrappers included) must exist.
    let mut argv = argv;
    let outer = argv[0].clone();
    if let Err(tried) = find_program(fs, &outer, &workdir, &path_var) {
        return Err(missing_program(fs, &outer, &tried, &path_var, &shown));
    }
    argv = unwrap(&argv);
    if SHELLS.contains(&base(&argv[0])) && argv.get(1).map(String::as_str) == Some("-c") {
        let script = argv.get(2).cloned().unwrap_or_default();
        let simple =
            !script.contains(['$', ';', '&', '|', '<', '>', '`', '(', '"', '\'', '\\', '*']);
        let words: Vec<String> = script
            .split_whitespace()
            .map(String::from)
            .filter(|w| w != "exec")
            .collect();
        if !simple || words.is_empty() {
            return Err(Finding::note(Code::CmdNotChecked, "CMD", format!("`{shown}` runs a shell string; its target was not checked"))
                .hint("use the exec form (`CMD [\"node\", \"dist/index.js\"]`) so signals reach the server and the target can be checked"));
        }
        argv = unwrap(&words);
    }
    let prog = argv[0].clone();
    let resolved = find_program(fs, &prog, &workdir, &path_var)
        .map_err(|tried| missing_program(fs, &prog, &tried, &path_var, &shown))?;
    // An interpreter is known by what the command is in the image, not only by its
    // name: `py` may be a link to `python3.11`, and then it runs a script.
    let interp = [prog.clone(), resolved.clone()]
        .into_iter()
        .chain(
            fs.lookup(&resolved)
                .ok()
                .and_then(|(_, n)| n.hardlink_of.map(String::from)),
        )
        .find(|name| interpreter(name).is_some());
    let script = match interp
        .as_deref()
        .and_then(|i| interpreter(i).map(|t| (i, t)))
    {
        None => Script::None,
        Some((i, takes_value)) => match script_of(&argv, i, takes_value) {
            Script::Path(s) => Script::Path(join(&workdir, &s)),
            other => other,
        },
    };
    Ok(CmdTarget {
        shown,
        workdir,
        program: resolved,
        interpreter: interp,
        script,
    })
}

pub fn check(fs: &FlatFs, cfg: &ImageConfiguration) -> CheckOutcome {
    let finish = |findings: Vec<Finding>| CheckOutcome::from_findings("cmd-target", findings);
    let t = match resolve(fs, cfg) {
        Ok(t) => t,
        Err(f) => return finish(vec![f]),
    };
    let (shown, workdir, resolved) = (&t.shown, &t.workdir, &t.program);
    let mut findings = Vec::new();
    let target = match &t.script {
        _ if t.interpreter.is_none() => {
            return finish(findings).detail(format!("runs `{resolved}`"))
        }
        Script::Path(s) => s.clone(),
        Script::NotAFile(why) => {
            return finish(vec![Finding::note(Code::CmdNotChecked, "CMD", why.clone())])
                .detail(format!("interpreter `{resolved}`"))
        }
        Script::None => {
            return finish(findings).detail(format!("interpreter `{resolved}` with no script"))
        }
    };
    let what = format!("`{shown}` (WORKDIR `{workdir}`) runs `{target}`, which");
    match fs.lookup(&target) {
        Err(e) => {
            let f = unresolved(fs, &target, &e, Code::CmdTargetMissing, &format!("`{target}`"));
            let f = match e {
                ResolveError::NotFound(_) if fs.get(&target).is_none() => {
                    Finding { message: format!("{what} does not exist"), ..f }
                }
                _ => f,
            };
            findings.push(f.hint("the build did not produce the script, or CMD/WORKDIR point at the wrong place: compare with `image-check ls IMAGE /app`"));
        }
        Ok((k, n)) if n.kind != Kind::File => findings.push(
            Finding::error(Code::CmdTargetNotFile, display(&k), format!("{what} is a {}, not a file", n.kind.name()))
                .provenance(fs.provenance(&display(&k))),
        ),
        Ok((k, n)) if n.size == 0 => findings.push(
            Finding::error(Code::CmdTargetEmpty, display(&k), format!("{what} is empty (0 bytes)"))
                .provenance(fs.provenance(&display(&k)))
                .hint("the build wrote an empty bundle: check the compile step's log (`npx tsc` without TypeScript installed compiles nothing)"),
        ),
        Ok((k, n)) => {
            return finish(findings).detail(format!("`{resolved}` runs `{}` ({} bytes)", display(&k), n.size));
        }
    }
    finish(findings)
}

fn missing_program(
    fs: &FlatFs,
    prog: &str,
    tried: &[String],
    path_var: &str,
    shown: &str,
) -> Finding {
    if prog.contains('/') {
        let target = &tried[0];
        let f = match fs.lookup(target) {
            Ok((k, n)) if n.kind == Kind::File => {
                return Finding::error(
                    Code::CmdTargetNotExecutable,
                    display(&k),
                    format!(
                        "`{shown}` execs `{target}`, which is not executable (mode `{:04o}`)",
                        n.mode
                    ),
                )
                .provenance(fs.provenance(&display(&k)))
                .hint(format!(
                    "`chmod +x {target}` in the Dockerfile, or `COPY --chmod=755`"
                ));
            }
            Ok((k, n)) => Finding::error(
                Code::CmdTargetNotFile,
                display(&k),
                format!("`{shown}` execs `{target}`, which is a {}", n.kind.name()),
            ),
            Err(e) => unresolved(
                fs,
                target,
                &e,
                Code::CmdTargetMissing,
                &format!("`{target}` (from `{shown}`)"),
            ),
        };
        return f.hint("check the path in ENTRYPOINT/CMD against `image-check ls IMAGE`");
    }
    Finding::error(
        Code::InterpreterMissing,
        prog,
        format!("`{prog}` (from `{shown}`) is not an executable file on the image's PATH `{path_var}`"),
    )
    .hint(format!("install `{prog}` in the final stage or use a base image that has it (e.g. `node:20-slim`), or name it by absolute path"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    /// `run -> nodejs -> node20` ran a missing script and passed: versioned
    /// interpreter names are interpreters too; look-alikes are not.
    #[test]
    fn versioned_interpreter_names_are_recognised() {
        for name in [
            "node",
            "node20",
            "node-20",
            "nodejs18",
            "node-v20.11.0",
            "/usr/bin/node20",
            "python3.11",
            "python3",
            "ruby3.2",
            "perl5.36",
            "php8.2",
            "bun1",
        ] {
            assert!(interpreter(name).is_some(), "{name}");
        }
        for name in [
            "nodemon",
            "node-gyp",
            "python3-config",
            "nodejsx",
            "bunx",
            "phpunit",
        ] {
            assert!(interpreter(name).is_none(), "{name}");
        }
    }

    #[test]
    fn unwraps_wrappers() {
        assert_eq!(
            unwrap(&v(&[
                "/usr/local/bin/preflight",
                "--spec",
                "x.toml",
                "--",
                "node",
                "dist/index.js"
            ])),
            v(&["node", "dist/index.js"])
        );
        assert_eq!(
            unwrap(&v(&["tini", "-s", "node", "a.js"])),
            v(&["node", "a.js"])
        );
        assert_eq!(
            unwrap(&v(&["gosu", "node", "node", "a.js"])),
            v(&["node", "a.js"])
        );
        assert_eq!(
            unwrap(&v(&["docker-entrypoint.sh", "node", "a.js"])),
            v(&["node", "a.js"])
        );
        assert_eq!(unwrap(&v(&["node", "a.js"])), v(&["node", "a.js"]));
    }

    #[test]
    fn finds_the_script() {
        let node = interpreter("node").unwrap();
        assert!(
            matches!(script_of(&v(&["node", "--enable-source-maps", "-r", "dotenv/config", "dist/index.js"]), "node", node), Script::Path(p) if p == "dist/index.js")
        );
        assert!(matches!(
            script_of(&v(&["node", "-e", "1"]), "node", node),
            Script::NotAFile(_)
        ));
        assert!(matches!(
            script_of(
                &v(&["python3", "-m", "app"]),
                "python3",
                interpreter("python3").unwrap()
            ),
            Script::NotAFile(_)
        ));
        assert!(
            matches!(script_of(&v(&["deno", "run", "-A", "main.ts"]), "deno", interpreter("deno").unwrap()), Script::Path(p) if p == "main.ts")
        );
    }
}
