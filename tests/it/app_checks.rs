//! The app-aware checks end to end: will the Node server's modules load, will the
//! page's assets load. Each fixture (`fixtures/recipes/node-*`, `web-*`) is one
//! way a deploy broke, beside `node-app`, the same app healthy.

use crate::support::fixture::{
    build_layout, layout_of, load_recipe, write_oci_dir, FileRecipe, LayerRecipe, Layout,
};
use crate::support::{image_check, json_lines, npm, project_root, Run};
use tempfile::TempDir;

#[derive(Debug)]
struct F {
    code: String,
    severity: String,
    subject: String,
    message: String,
    hint: String,
}

/// Checks `recipe` (no spec unless `spec` is given: only the automatic checks).
fn check(recipe: &str, spec: Option<&str>) -> (Run, Vec<F>) {
    check_layout(&build_layout(recipe, "v1"), spec)
}

fn check_layout(layout: &Layout, spec: Option<&str>) -> (Run, Vec<F>) {
    check_run(layout, spec, None, &[])
}

/// With `taskdef`, the task definition's text is passed as `--taskdef FILE`.
fn check_with_taskdef(layout: &Layout, spec: Option<&str>, taskdef: Option<&str>) -> (Run, Vec<F>) {
    check_run(layout, spec, taskdef, &[])
}

/// `extra`: more arguments before the reference.
fn check_run(
    layout: &Layout,
    spec: Option<&str>,
    taskdef: Option<&str>,
    extra: &[&str],
) -> (Run, Vec<F>) {
    let t = TempDir::new().unwrap();
    write_oci_dir(layout, &t.path().join("img"));
    let r = format!("oci:{}:v1", t.path().join("img").display());
    let spec_path = t.path().join("spec.toml");
    let mut args = vec!["--format", "json"];
    args.extend(extra);
    let sp = spec_path.display().to_string();
    if let Some(s) = spec {
        std::fs::write(&spec_path, s).unwrap();
        args.extend(["--spec", &sp]);
    }
    let td_path = t.path().join("td.json");
    let td = td_path.display().to_string();
    if let Some(text) = taskdef {
        std::fs::write(&td_path, text).unwrap();
        args.extend(["--taskdef", &td]);
    }
    args.push(&r);
    let run = image_check(&args, project_root());
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let found = json_lines(&run.stdout)
        .iter()
        .filter(|l| l["type"] == "check")
        .flat_map(|l| l["findings"].as_array().cloned().unwrap_or_default())
        .map(|f| F {
            code: s(&f["code"]),
            severity: s(&f["severity"]),
            subject: s(&f["subject"]),
            message: s(&f["message"]),
            hint: s(&f["hint"]),
        })
        .collect();
    (run, found)
}

fn only<'a>(found: &'a [F], code: &str) -> Vec<&'a F> {
    found.iter().filter(|f| f.code == code).collect()
}

#[test]
fn healthy_app_loads_and_its_page_is_complete() {
    let (run, found) = check("node-app", None);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(found.is_empty(), "{found:#?}");
    // The check did read the app: both app files, the four packages reached.
    assert!(
        run.stdout
            .contains("`/app/dist/index.js`: 2 app files, 7 imports, 4 packages"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("`/app/dist/public/index.html`: 7 references, 2 stylesheets"),
        "{}",
        run.stdout
    );
}

/// `import "ghost"` in a comment and a template literal, and `<img src=/ghost.png>`
/// inside a script's string: a scanner reports them, Node and browsers do not.
#[test]
fn ghost_imports_in_comments_and_templates_are_not_imports() {
    let (run, found) = check("node-app", None);
    assert!(!run.stdout.contains("ghost"), "{}", run.stdout);
    assert!(found.is_empty());
}

#[test]
fn vite_imported_at_top_level_and_missing_fails_with_file_and_line() {
    let (run, found) = check("node-vite-static", None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "error");
    assert_eq!(f[0].subject, "/app/dist/index.js:2");
    assert!(
        f[0].message.contains("`import` of `vite`"),
        "{}",
        f[0].message
    );
    assert!(f[0].message.contains("ERR_MODULE_NOT_FOUND"));
    assert!(f[0].message.contains("at start"));
    // The app lists vite as a dev dependency: the hint says what to move.
    assert!(
        f[0].hint
            .contains("`vite` is in the `devDependencies` of `/app/package.json`"),
        "{}",
        f[0].hint
    );
}

#[test]
fn vite_imported_dynamically_behind_node_env_is_a_warning_in_production() {
    let (run, found) = check("node-vite-dynamic", None);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "warning");
    assert_eq!(f[0].subject, "/app/dist/index.js:4");
    assert!(
        f[0].message
            .contains("`process.env.NODE_ENV !== \"production\"`"),
        "{}",
        f[0].message
    );
    assert!(
        f[0].message.contains("`NODE_ENV=production`") && f[0].message.contains("does not select")
    );
}

/// The ScaleMap server: no NODE_ENV in the image, so `!== "production"` holds and
/// the development branch imports vite at start.
#[test]
fn vite_behind_node_env_is_an_error_when_the_image_sets_no_node_env() {
    let (run, found) = check("node-vite-dynamic-no-env", None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "error");
    assert!(f[0].message.contains("no `NODE_ENV`") && f[0].message.contains("selects"));
}

/// A task definition with one container whose `environment` holds `env` (and
/// `secrets`, and what the spec below requires), for `IMAGE --taskdef FILE`.
fn taskdef(env: &[(&str, &str)], secrets: &[&str]) -> String {
    let mut e: Vec<serde_json::Value> = vec![serde_json::json!({"name": "PORT", "value": "3000"})];
    e.extend(
        env.iter()
            .map(|(n, v)| serde_json::json!({"name": n, "value": v})),
    );
    let s: Vec<serde_json::Value> = secrets
        .iter()
        .map(|n| serde_json::json!({"name": n, "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app-AbCdEf"}))
        .collect();
    serde_json::json!({
        "family": "api",
        "executionRoleArn": "arn:aws:iam::123456789012:role/e",
        "containerDefinitions": [{
            "name": "api", "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:v1",
            "essential": true,
            "environment": e, "secrets": s,
            "logConfiguration": {"logDriver": "awslogs"},
            "healthCheck": {"command": ["CMD-SHELL", "wget -qO- http://localhost:3000/ || exit 1"]}
        }]
    })
    .to_string()
}

/// What the task definition's lint needs to run: one required variable it sets.
const TASK_SPEC: &str = "[preflight]\n[[preflight.env]]\nname = \"PORT\"\n";

/// The guarded dev-only import, judged with the task definition's environment
/// over the image's ENV, as ECS starts the container: `NODE_ENV=production` in
/// the task makes it a warning although the image sets no `NODE_ENV`.
#[test]
fn node_env_guard_is_judged_with_the_task_definitions_environment() {
    let layout = build_layout("node-vite-dynamic-no-env", "v1");
    let td = taskdef(&[("NODE_ENV", "production")], &[]);
    let (run, found) = check_with_taskdef(&layout, Some(TASK_SPEC), Some(&td));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "warning");
    assert!(
        f[0].message.contains("does not select")
            && f[0]
                .message
                .contains("`NODE_ENV=production` in its `environment`"),
        "{}",
        f[0].message
    );
    assert!(
        run.stdout
            .contains("`NODE_ENV=production` from the task definition"),
        "{}",
        run.stdout
    );
    // Without `--taskdef`, the same image is judged with its own ENV: an error.
    let (run, found) = check_layout(&layout, Some(TASK_SPEC));
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(only(&found, "import-unresolved")[0].severity, "error");
}

/// The ScaleMap incident as deployed: neither the task definition nor the
/// image sets `NODE_ENV`, so the development branch imports vite at start.
#[test]
fn node_env_guard_is_an_error_when_neither_task_nor_image_sets_node_env() {
    let layout = build_layout("node-vite-dynamic-no-env", "v1");
    let td = taskdef(&[("LOG_LEVEL", "info")], &[]);
    let (run, found) = check_with_taskdef(&layout, Some(TASK_SPEC), Some(&td));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "error");
    assert!(
        f[0].message.contains(" selects")
            && f[0]
                .message
                .contains("no `NODE_ENV` in the task definition `"),
        "{}",
        f[0].message
    );
}

/// The task's `environment` wins over the image's ENV: an image built with
/// `NODE_ENV=production`, run by a task that sets `development`, takes the
/// development branch.
#[test]
fn node_env_from_the_task_definition_overrides_the_images() {
    let layout = build_layout("node-vite-dynamic", "v1");
    let (run, found) = check_layout(&layout, Some(TASK_SPEC));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(only(&found, "import-unresolved")[0].severity, "warning");
    let td = taskdef(&[("NODE_ENV", "development")], &[]);
    let (run, found) = check_with_taskdef(&layout, Some(TASK_SPEC), Some(&td));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let f = only(&found, "import-unresolved");
    assert_eq!(f[0].severity, "error", "{found:#?}");
    // A task that leaves NODE_ENV alone keeps the image's.
    let td = taskdef(&[], &[]);
    let (run, found) = check_with_taskdef(&layout, Some(TASK_SPEC), Some(&td));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let f = only(&found, "import-unresolved");
    assert_eq!(f[0].severity, "warning", "{found:#?}");
    assert!(
        f[0].message.contains("the task definition `") && f[0].message.contains("does not set it"),
        "{}",
        f[0].message
    );
}

/// `NODE_ENV` from a secret: its value is known only when the task starts, so
/// neither branch is chosen for it (a warning, never a pass in silence).
#[test]
fn node_env_from_a_task_secret_is_judged_unknown() {
    let layout = build_layout("node-vite-dynamic-no-env", "v1");
    let td = taskdef(&[], &["NODE_ENV"]);
    let (run, found) = check_with_taskdef(&layout, Some(TASK_SPEC), Some(&td));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "warning");
    assert!(
        f[0].message
            .contains("a `secrets` entry, known only at deploy time"),
        "{}",
        f[0].message
    );
}

/// ECS starts the container with the task's `environment` over the image's ENV:
/// the `NODE_OPTIONS` it sets are the preloads node runs (only the image's were
/// read before), an empty one clears the image's, one from a secret is unknown
/// (a note, not a pass in silence), and `env NODE_OPTIONS=… node` wins over both.
#[test]
fn node_options_from_the_task_definition_are_the_preloads_node_runs() {
    let healthy = healthy_with(None, &[], &[], &[]);
    let preloading = healthy_with(None, &["NODE_OPTIONS=--require dotenv/config"], &[], &[]);
    // The lint's own findings on this task (its port mappings) fail the run too;
    // what is asserted is what the node check says about `NODE_OPTIONS`.
    type Case<'a> = (&'a Layout, String, Option<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        (
            &healthy,
            taskdef(&[("NODE_OPTIONS", "--require dotenv/config")], &[]),
            Some(("import-unresolved", "the preload `--require dotenv/config`")),
        ),
        (&preloading, taskdef(&[("NODE_OPTIONS", "")], &[]), None),
        (
            &preloading,
            taskdef(&[], &["NODE_OPTIONS"]),
            Some(("node-not-checked", "from a `secrets` entry")),
        ),
        // The task leaving it alone keeps the image's.
        (
            &preloading,
            taskdef(&[], &[]),
            Some(("import-unresolved", "the preload `--require dotenv/config`")),
        ),
    ];
    for (layout, td, want) in cases {
        let (run, found) = check_with_taskdef(layout, Some(TASK_SPEC), Some(&td));
        assert_ne!(run.code, 2, "{td}: {}{}", run.stdout, run.stderr);
        let about: Vec<&F> = found
            .iter()
            .filter(|f| f.subject == "NODE_OPTIONS")
            .collect();
        match want {
            None => assert!(about.is_empty(), "{td}: {found:#?}"),
            Some((c, says)) => {
                assert_eq!(about.len(), 1, "{td}: {found:#?}");
                assert_eq!(about[0].code, c, "{td}: {found:#?}");
                assert!(about[0].message.contains(says), "{}", about[0].message);
            }
        }
    }
    let env_cmd = healthy_with(
        Some(&[
            "env",
            "NODE_OPTIONS=-r ghost-hooks",
            "node",
            "dist/index.js",
        ]),
        &[],
        &[],
        &[],
    );
    let (run, found) = check_with_taskdef(
        &env_cmd,
        Some(TASK_SPEC),
        Some(&taskdef(&[("NODE_OPTIONS", "")], &[])),
    );
    assert_ne!(run.code, 2, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    assert!(f[0].message.contains("`-r ghost-hooks`"), "{found:#?}");
}

/// The healthy example run through a package manager: `cmd` (after preflight),
/// `package` as `/app/package.json` (`None`: deleted), and `more` app files.
fn package_run_image(cmd: &[&str], package: Option<&str>, more: &[(&str, &str)]) -> Layout {
    let mut r = load_recipe("healthy");
    r.config.cmd = Some(cmd.iter().map(|c| c.to_string()).collect());
    let file = |path: &str, text: &str| FileRecipe {
        path: path.into(),
        text: Some(text.into()),
        ..Default::default()
    };
    let mut files = vec![
        FileRecipe {
            mode: Some(0o755),
            ..file("usr/local/bin/npm", "#!/usr/bin/env node\n")
        },
        FileRecipe {
            mode: Some(0o755),
            ..file("usr/local/bin/yarn", "#!/usr/bin/env node\n")
        },
    ];
    files.push(match package {
        Some(p) => file("app/package.json", p),
        None => file("app/.wh.package.json", ""),
    });
    files.extend(more.iter().map(|(p, t)| file(p, t)));
    r.layers.push(LayerRecipe {
        compression: "gzip".into(),
        docker_media_types: false,
        created_by: Some("COPY package.json ./".into()),
        files,
        tree: None,
    });
    layout_of(r, "v1")
}

fn package_with_scripts(scripts: &str) -> String {
    format!(
        r#"{{"name":"scalemap-api","type":"module","scripts":{{{scripts}}},"dependencies":{{"express":"^4","pg":"^8","@aws-sdk/client-s3":"^3"}}}}"#
    )
}

/// `CMD ["npm", "start"]` runs `scripts.start`; a plain `node FILE` there is
/// followed, so the bundle is checked as if the command named it (npm and yarn,
/// `start`, `run start`, `run-script NAME`).
#[test]
fn npm_start_is_followed_to_the_script_node_runs() {
    let pkg = package_with_scripts(
        r#""start":"node dist/index.js","serve":"node --enable-source-maps --title api dist/index.js""#,
    );
    for (cmd, by) in [
        (&["npm", "start"][..], "npm start"),
        (
            &["npm", "run", "start", "--", "--port", "3000"][..],
            "npm run start",
        ),
        (&["npm", "run-script", "serve"][..], "npm run serve"),
        (&["yarn", "start"][..], "yarn start"),
        (&["yarn", "run", "serve"][..], "yarn run serve"),
    ] {
        let (run, found) = check_layout(&package_run_image(cmd, Some(&pkg), &[]), None);
        assert_eq!(run.code, 0, "{cmd:?}: {}{}", run.stdout, run.stderr);
        assert!(found.is_empty(), "{cmd:?}: {found:#?}");
        assert!(
            run.stdout
                .contains(&format!("`{by}` runs `/app/dist/index.js` (1238 bytes)")),
            "{cmd:?}: {}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("`/app/dist/index.js`: 1 app file, 5 imports, 7 packages"),
            "{cmd:?}: {}",
            run.stdout
        );
    }
}

/// What the followed script runs must exist, as for `CMD ["node", FILE]`; and
/// a missing script, a missing `package.json` (npm exits before anything
/// runs) are errors. npm's own default, `node server.js` for a `start` the
/// package lacks, is followed (npm 11 on the host does exactly that).
#[test]
fn npm_start_failures_are_cmd_target_errors() {
    let pkg = package_with_scripts(r#""start":"node dist/server.js""#);
    let (run, found) = check_layout(&package_run_image(&["npm", "start"], Some(&pkg), &[]), None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "cmd-target-missing");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert!(
        f[0].message.contains("runs `npm start`, whose `node dist/server.js` (in `/app/package.json`) runs `/app/dist/server.js`"),
        "{}",
        f[0].message
    );

    let pkg = package_with_scripts(r#""build":"vite build""#);
    let (run, found) = check_layout(&package_run_image(&["npm", "start"], Some(&pkg), &[]), None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "cmd-target-missing");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].subject, "/app/package.json");
    assert!(f[0].message.contains("no `scripts.start`") && f[0].message.contains("Missing script"));
    // The node check says why it did not run, never a pass in silence.
    assert_eq!(only(&found, "node-not-checked").len(), 1, "{found:#?}");

    let with_server = package_run_image(
        &["npm", "start"],
        Some(&pkg),
        &[(
            "app/server.js",
            "import express from \"express\";\nimport \"vite\";\n",
        )],
    );
    let (run, found) = check_layout(&with_server, None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].subject, "/app/server.js:2");

    let (run, found) = check_layout(&package_run_image(&["npm", "start"], None, &[]), None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "cmd-target-missing");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert!(f[0]
        .message
        .contains("reads `/app/package.json`, but there is no such file"));
}

/// Anything but a plain `node FILE` (a shell `&&`, an assignment, another
/// runner) and npm flags that move the package are notes that say the script
/// was not followed.
#[test]
fn package_scripts_other_than_node_file_are_notes_not_followed() {
    for (cmd, start) in [
        (&["npm", "start"][..], "tsc && node dist/index.js"),
        (
            &["npm", "start"][..],
            "NODE_ENV=production node dist/index.js",
        ),
        (&["npm", "start"][..], "nodemon dist/index.js"),
        (
            &["npm", "--prefix", "/srv", "start"][..],
            "node dist/index.js",
        ),
        (&["npm", "ci"][..], "node dist/index.js"),
    ] {
        let pkg = package_with_scripts(&format!(r#""start":{}"#, serde_json::json!(start)));
        let (run, found) = check_layout(&package_run_image(cmd, Some(&pkg), &[]), None);
        assert_eq!(run.code, 0, "{cmd:?} {start}: {}", run.stdout);
        let cmd_note = only(&found, "cmd-not-checked");
        let node_note = only(&found, "node-not-checked");
        assert_eq!(
            (cmd_note.len(), node_note.len()),
            (1, 1),
            "{cmd:?} {start}: {found:#?}"
        );
        assert_eq!(cmd_note[0].severity, "note");
        assert!(
            node_note[0].message.contains("so imports were not checked"),
            "{}",
            node_note[0].message
        );
    }
}

/// The healthy example with one more layer: `files` written (`(path, text)`)
/// and `gone` whited out.
fn healthy_plus(files: &[(&str, &str)], gone: &[&str]) -> Layout {
    healthy_with(None, &[], files, gone)
}

/// [`healthy_plus`] with `cmd` (after preflight) and `env` added to the ENV.
fn healthy_with(
    cmd: Option<&[&str]>,
    env: &[&str],
    files: &[(&str, &str)],
    gone: &[&str],
) -> Layout {
    let mut r = load_recipe("healthy");
    if let Some(c) = cmd {
        r.config.cmd = Some(c.iter().map(|x| x.to_string()).collect());
    }
    let mut e = r.config.env.clone().unwrap_or_default();
    e.extend(env.iter().map(|x| x.to_string()));
    r.config.env = Some(e);
    let mut fs: Vec<FileRecipe> = files
        .iter()
        .map(|(p, t)| FileRecipe {
            path: p.to_string(),
            text: Some(t.to_string()),
            ..Default::default()
        })
        .collect();
    fs.extend(gone.iter().map(|p| {
        let (dir, name) = p.rsplit_once('/').unwrap();
        FileRecipe {
            path: format!("{dir}/.wh.{name}"),
            text: Some(String::new()),
            ..Default::default()
        }
    }));
    r.layers.push(LayerRecipe {
        compression: "gzip".into(),
        docker_media_types: false,
        created_by: Some("COPY . .".into()),
        files: fs,
        tree: None,
    });
    layout_of(r, "v1")
}

/// Hostile H3: a dependency's directory is there but its entry is not (a
/// `.dockerignore` or partial `COPY` dropped it); Node's `require` fails at
/// start, so the check does too: a missing `main` file, an empty directory,
/// an `exports` target that is gone.
#[test]
fn a_dependency_present_without_its_entry_file_fails() {
    for (files, gone, dep, why) in [
        (
            vec![],
            vec!["app/node_modules/pg-connection-string/index.js"],
            "pg-connection-string",
            "its `main` `./index.js` does not exist",
        ),
        (
            vec![],
            vec![
                "app/node_modules/body-parser/package.json",
                "app/node_modules/body-parser/index.js",
            ],
            "body-parser",
            "neither a `package.json` nor an `index.js`",
        ),
        (
            vec![(
                "app/node_modules/debug/package.json",
                r#"{"name":"debug","exports":{".":{"require":"./dist/debug.cjs"}},"dependencies":{"ms":"2.0.0"}}"#,
            )],
            vec![],
            "debug",
            "its `exports` names `/app/node_modules/debug/dist/debug.cjs`",
        ),
    ] {
        let (run, found) = check_layout(&healthy_plus(&files, &gone), None);
        assert_eq!(run.code, 1, "{dep}: {}", run.stdout);
        let f = only(&found, "import-unresolved");
        assert!(!f.is_empty(), "{dep}: {found:#?}");
        assert!(
            f.iter().all(|f| f.severity == "error"
                && f.message.contains(&format!("the dependency `{dep}`"))
                && f.message.contains(why)),
            "{dep}: {f:#?}"
        );
    }
    // A package naming no entry at all (types only) is not required whole.
    let types_only = healthy_plus(
        &[
            (
                "app/node_modules/ms/package.json",
                r#"{"name":"ms","types":"index.d.ts"}"#,
            ),
            ("app/node_modules/ms/index.d.ts", "export {};\n"),
        ],
        &["app/node_modules/ms/index.js"],
    );
    let (run, found) = check_layout(&types_only, None);
    assert_eq!(run.code, 0, "{found:#?}");
}

/// Hostile M5: the app's own `package.json` does not parse; Node reads it to
/// load the bundle (for its `"type"`) and throws at start.
#[test]
fn an_invalid_app_package_json_fails() {
    let (run, found) = check_layout(&healthy_plus(&[("app/package.json", "{bad")], &[]), None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "package-json-invalid");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(
        (f[0].severity.as_str(), f[0].subject.as_str()),
        ("error", "/app/package.json")
    );
    assert!(
        f[0].message.contains("ERR_INVALID_PACKAGE_CONFIG"),
        "{}",
        f[0].message
    );
}

/// Hostile H5/M9: an app file reached at start that could not be checked is a
/// warning (so `--strict` fails), never a note beside a pass.
#[test]
fn an_app_file_reached_at_start_that_was_not_checked_is_a_warning() {
    let layout = healthy_plus(&[("app/dist/index.js", "const = ;\n")], &[]);
    let (run, found) = check_layout(&layout, None);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let f = only(&found, "node-not-checked");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "warning");
    assert!(
        f[0].message.contains("could not be parsed"),
        "{}",
        f[0].message
    );
}

/// Hostile H4: what node preloads (`-r`, `--import`, `NODE_OPTIONS`) runs
/// before the entry; a preload that does not resolve fails the start.
#[test]
fn preloads_are_resolved_before_the_entry() {
    let pkg_dev = r#"{"name":"scalemap-api","type":"module","dependencies":{"express":"^4","pg":"^8","@aws-sdk/client-s3":"^3"},"devDependencies":{"dotenv":"^16"}}"#;
    let cases: Vec<(Layout, &str, &str)> = vec![
        (
            healthy_with(
                Some(&["node", "-r", "dotenv/config", "dist/index.js"]),
                &[],
                &[("app/package.json", pkg_dev)],
                &[],
            ),
            "CMD",
            "the preload `-r dotenv/config` cannot be resolved from `/app`",
        ),
        (
            healthy_with(None, &["NODE_OPTIONS=--require dotenv/config"], &[], &[]),
            "NODE_OPTIONS",
            "the preload `--require dotenv/config`",
        ),
        (
            healthy_with(
                Some(&["node", "--import=./register.js", "dist/index.js"]),
                &[],
                &[("app/register.js", "import \"ghost-hooks\";\n")],
                &[],
            ),
            "/app/register.js:1",
            "`import` of `ghost-hooks`",
        ),
    ];
    for (layout, subject, says) in cases {
        let (run, found) = check_layout(&layout, None);
        assert_eq!(run.code, 1, "{says}: {}", run.stdout);
        let f = only(&found, "import-unresolved");
        assert_eq!(f.len(), 1, "{says}: {found:#?}");
        assert_eq!(
            (f[0].severity.as_str(), f[0].subject.as_str()),
            ("error", subject)
        );
        assert!(f[0].message.contains(says), "{}", f[0].message);
    }
    // The dev dependency is named in the hint.
    let (_, found) = check_layout(
        &healthy_with(
            Some(&["node", "-r", "dotenv/config", "dist/index.js"]),
            &[],
            &[("app/package.json", pkg_dev)],
            &[],
        ),
        None,
    );
    assert!(only(&found, "import-unresolved")[0]
        .hint
        .contains("`dotenv` is in the app's `devDependencies`"));
    // A preload that resolves is followed like the entry, and passes.
    let ok = healthy_with(
        Some(&[
            "node",
            "--require",
            "./instrument.cjs",
            "--import",
            "express",
            "dist/index.js",
        ]),
        &[],
        &[("app/instrument.cjs", "require(\"ms\");\n")],
        &[],
    );
    let (run, found) = check_layout(&ok, None);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(found.is_empty(), "{found:#?}");
    assert!(
        run.stdout.contains("2 app files, 8 imports"),
        "{}",
        run.stdout
    );
}

/// Hostile (entry `env-file-flag`): `node --env-file .env` exits at start when
/// the file is not there (Node 20: `.env: not found`).
#[test]
fn a_missing_env_file_fails_the_start() {
    let cmd: &[&str] = &["node", "--env-file", ".env", "dist/index.js"];
    let (run, found) = check_layout(&healthy_with(Some(cmd), &[], &[], &[]), None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "cmd-target-missing");
    assert!(
        f.len() == 1 && f[0].message.contains("`/app/.env`"),
        "{found:#?}"
    );
    let ok = healthy_with(
        Some(&["node", "--env-file=.env", "dist/index.js"]),
        &[],
        &[("app/.env", "A=1\n")],
        &[],
    );
    let (run, found) = check_layout(&ok, None);
    assert_eq!(run.code, 0, "{found:#?}");
}

/// Hostile M10/M11: node finds its main script as `require` does (`node .`
/// through `main`, `node dist/index` with `.js`), and its options that take a
/// separate value are not the script.
#[test]
fn node_finds_its_main_script_as_require_does() {
    let main = r#"{"name":"scalemap-api","type":"module","main":"dist/index.js","dependencies":{"express":"^4","pg":"^8","@aws-sdk/client-s3":"^3"}}"#;
    for (cmd, files) in [
        (&["node", "."][..], vec![("app/package.json", main)]),
        (&["node", "dist/index"][..], vec![]),
        (&["node", "dist"][..], vec![]),
        (
            &["node", "--unhandled-rejections", "strict", "dist/index.js"][..],
            vec![],
        ),
    ] {
        let layout = if cmd[1] == "dist" {
            healthy_with(
                Some(cmd),
                &[],
                &[("app/dist/index.js", "import \"express\";\n")],
                &[],
            )
        } else {
            healthy_with(Some(cmd), &[], &files, &[])
        };
        let (run, found) = check_layout(&layout, None);
        assert_eq!(run.code, 0, "{cmd:?}: {}", run.stdout);
        assert!(found.is_empty(), "{cmd:?}: {found:#?}");
        assert!(
            run.stdout.contains("runs `/app/dist/index.js`"),
            "{cmd:?}: {}",
            run.stdout
        );
    }
}

/// Hostile L9: `env` is looked through, and `env NODE_ENV=…` is the
/// environment the guards are judged with.
#[test]
fn env_wrapper_is_looked_through_with_its_node_env() {
    let mut r = load_recipe("node-vite-dynamic");
    r.config.cmd = Some(
        [
            "/usr/bin/env",
            "NODE_ENV=development",
            "node",
            "dist/index.js",
        ]
        .map(String::from)
        .to_vec(),
    );
    r.layers.push(LayerRecipe {
        compression: "gzip".into(),
        docker_media_types: false,
        created_by: None,
        files: vec![FileRecipe {
            path: "usr/bin/env".into(),
            text: Some("#!".into()),
            mode: Some(0o755),
            ..Default::default()
        }],
        tree: None,
    });
    let (run, found) = check_layout(&layout_of(r, "v1"), None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    assert_eq!(f[0].severity, "error", "{found:#?}");
    assert!(
        f[0].message.contains("`env NODE_ENV=development`"),
        "{}",
        f[0].message
    );
}

/// Hostile M6: ESM specifiers are URLs (Node 20 on the host agrees with
/// each line): `?query` and `#hash` are dropped, `%20` decoded, `file:///`
/// is a path, `data:` loads no file; a literal `%20` in a file name is not
/// found, and an encoded `/` is refused.
#[test]
fn esm_specifiers_are_resolved_as_urls() {
    let ok = r#"import a from "./util.js?v=1";
import b from "./util.js#x";
import c from "./my%20util.js";
import d from "file:///app/dist/util.js";
import e from "data:text/javascript,export default 5";
"#;
    let files = [
        ("app/dist/index.js", ok),
        ("app/dist/util.js", "export default 1;\n"),
        ("app/dist/my util.js", "export default 2;\n"),
    ];
    let (run, found) = check_layout(&healthy_plus(&files, &[]), None);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(found.is_empty(), "{found:#?}");
    for (spec, code) in [
        ("./lit%20.js", "ERR_MODULE_NOT_FOUND"),
        ("./a%2Fb.js", "ERR_INVALID_MODULE_SPECIFIER"),
    ] {
        let src = format!("import x from \"{spec}\";\n");
        let files = [
            ("app/dist/index.js", src.as_str()),
            ("app/dist/lit%20.js", "export default 3;\n"),
        ];
        let (run, found) = check_layout(&healthy_plus(&files, &[]), None);
        assert_eq!(run.code, 1, "{spec}: {}", run.stdout);
        let f = only(&found, "import-unresolved");
        assert!(
            f.len() == 1 && f[0].message.contains(code),
            "{spec}: {found:#?}"
        );
    }
}

/// Hostile M7: built-ins the image's Node version lacks (`NODE_VERSION`);
/// without it, the version is not guessed.
#[test]
fn builtins_follow_the_images_node_version() {
    let files = [(
        "app/dist/index.js",
        "import { DatabaseSync } from \"node:sqlite\";\n",
    )];
    for (env, code) in [
        (vec!["NODE_VERSION=20.11.1"], 1),
        (vec!["NODE_VERSION=22.13.0"], 0),
        (vec![], 0),
    ] {
        let (run, found) = check_layout(&healthy_with(None, &env, &files, &[]), None);
        assert_eq!(run.code, code, "{env:?}: {}", run.stdout);
        if code == 1 {
            let f = only(&found, "import-unresolved");
            assert!(
                f[0].message.contains("ERR_UNKNOWN_BUILTIN_MODULE"),
                "{f:#?}"
            );
        }
    }
}

/// Hostile M8: files that resolve but Node's ESM loader refuses: JSON without
/// `with { type: "json" }` (Node 20 calls it `ERR_IMPORT_ASSERTION_TYPE_MISSING`),
/// a native addon.
#[test]
fn esm_refuses_json_without_its_type_and_native_addons() {
    let src = r#"import a from "./d.json" with { type: "json" };
const b = await import("./d.json", { with: { type: "json" } });
import c from "./d.json";
import d from "./addon.node";
"#;
    let files = [
        ("app/dist/index.js", src),
        ("app/dist/d.json", "{}"),
        ("app/dist/addon.node", "\u{7f}ELF"),
    ];
    let (run, found) = check_layout(
        &healthy_with(None, &["NODE_VERSION=20.19.0"], &files, &[]),
        None,
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    let got: Vec<(&str, bool)> = f
        .iter()
        .map(|f| {
            (
                f.subject.as_str(),
                f.message.contains("ERR_IMPORT_ASSERTION_TYPE_MISSING")
                    || f.message.contains("ERR_UNKNOWN_FILE_EXTENSION"),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("/app/dist/index.js:3", true),
            ("/app/dist/index.js:4", true)
        ],
        "{f:#?}"
    );
}

/// Hostile M12: relative references resolve against the page's `<base
/// href>` (Angular CLI writes one), as the browser resolves them.
#[test]
fn relative_references_resolve_against_base_href() {
    let page = |base: &str, src: &str| {
        format!(
            "<!doctype html><base href=\"{base}\"><script type=module src=\"{src}\"></script>\n"
        )
    };
    for (base, src, code) in [
        ("/assets/", "index-3f2a.js", 0),
        ("/other/", "assets/index-3f2a.js", 1),
        ("https://cdn.example/app/", "ghost.js", 0),
        ("/assets/page.html", "index-3f2a.js", 0),
    ] {
        let html = page(base, src);
        let files = [("app/dist/public/index.html", html.as_str())];
        let (run, found) = check_layout(&healthy_plus(&files, &[]), None);
        assert_eq!(run.code, code, "{base} {src}: {found:#?}");
    }
}

/// Hostile L4: CommonJS's own path rules: a trailing `/` names a directory
/// (no file is tried), and `node_modules/p.js` is the package `p`.
#[test]
fn commonjs_path_edge_cases_agree_with_node() {
    let cmd: &[&str] = &["node", "dist/server.cjs"];
    let src = "require(\"./util.js/\");\nrequire(\"p\");\n";
    let files = [
        ("app/dist/server.cjs", src),
        ("app/dist/util.js", "module.exports = 1;\n"),
        ("app/node_modules/p.js", "module.exports = 2;\n"),
    ];
    let (run, found) = check_layout(&healthy_with(Some(cmd), &[], &files, &[]), None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    let subjects: Vec<&str> = f.iter().map(|f| f.subject.as_str()).collect();
    assert_eq!(subjects, vec!["/app/dist/server.cjs:1"], "{f:#?}");
}

/// Hostile L3: `exports` targets and `imports` names Node refuses, in the
/// spellings its own check refuses (any case, `%2e` escapes, numeric keys).
#[test]
fn exports_targets_node_refuses_are_refused() {
    for (exports, code) in [
        (
            r#"{".": "./NODE_MODULES/x.js"}"#,
            "ERR_INVALID_PACKAGE_TARGET",
        ),
        (r#"{".": "./%2e%2e/x.js"}"#, "ERR_INVALID_PACKAGE_TARGET"),
        (r#"{"0": "./x.js"}"#, "ERR_INVALID_PACKAGE_CONFIG"),
    ] {
        let pkg = format!(r#"{{"name":"q","exports":{exports}}}"#);
        let files = [
            ("app/dist/index.js", "import \"q\";\n"),
            ("app/node_modules/q/package.json", pkg.as_str()),
            ("app/node_modules/q/x.js", "export {};\n"),
            ("app/node_modules/q/NODE_MODULES/x.js", "export {};\n"),
        ];
        let (run, found) = check_layout(&healthy_plus(&files, &[]), None);
        assert_eq!(run.code, 1, "{exports}: {}", run.stdout);
        let f = only(&found, "import-unresolved");
        assert!(
            f.len() == 1 && f[0].message.contains(code),
            "{exports}: {found:#?}"
        );
    }
    // An empty segment is not among them: Node 20 loads `./a//b.js`.
    let pkg = r#"{"name":"q","exports":{".": "./a//b.js"}}"#;
    let files = [
        ("app/dist/index.js", "import \"q\";\n"),
        ("app/node_modules/q/package.json", pkg),
        ("app/node_modules/q/a/b.js", "export {};\n"),
    ];
    let (run, found) = check_layout(&healthy_plus(&files, &[]), None);
    assert_eq!(run.code, 0, "{found:#?}");
    let files = [("app/dist/index.js", "import \"#/x.js\";\n")];
    let (_, found) = check_layout(&healthy_plus(&files, &[]), None);
    let f = only(&found, "import-unresolved");
    assert!(
        f.len() == 1 && f[0].message.contains("ERR_INVALID_MODULE_SPECIFIER"),
        "{found:#?}"
    );
}

/// Hostile M14: a package's non-optional peer that no `node_modules` holds is
/// a warning (a package often loads a peer only on some paths); an optional
/// one is not reported.
#[test]
fn a_missing_peer_dependency_is_a_warning() {
    let pg = r#"{"name":"pg","main":"./lib","dependencies":{"pg-connection-string":"^2.7.0"},"peerDependencies":{"pg-native":"^3","pg-cloudflare":"^1"},"peerDependenciesMeta":{"pg-native":{"optional":true}}}"#;
    let files = [("app/node_modules/pg/package.json", pg)];
    let (run, found) = check_layout(&healthy_plus(&files, &[]), None);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "warning");
    assert!(
        f[0].message.contains("the peer dependency `pg-cloudflare`"),
        "{}",
        f[0].message
    );
}

/// Hostile L6: references read as the URL parser reads them: `\\` is `/`
/// (so `/\\host/x` is another host), tabs and newlines vanish, `..` stops at
/// the site's root, `<template>` contents load nothing, and `%E2%9C%93` is a
/// file name, not a `%PLACEHOLDER%`.
#[test]
fn web_urls_are_read_as_browsers_read_them() {
    let ok = "<!doctype html>\n<script src=\"\\assets\\index-3f2a.js\"></script>\n<script src=\"/\\cdn.example.com/x.js\"></script>\n<link rel=stylesheet href=\"/assets/index-\n9c1d.css\">\n<template><img src=\"/ghost.png\"></template>\n<img src=\"%BASE_URL%/logo.png\">\n";
    let files = [("app/dist/public/index.html", ok)];
    let (run, found) = check_layout(&healthy_plus(&files, &[]), None);
    assert_eq!(run.code, 0, "{found:#?}");
    assert!(found.is_empty(), "{found:#?}");
    for (src, missing) in [
        ("%E2%9C%93.png", "/app/dist/public/\u{2713}.png"),
        // From the root page, `../` stays at the site's root.
        ("../outside.js", "/app/dist/public/outside.js"),
    ] {
        let page = format!("<!doctype html><img src=\"{src}\">\n");
        let files = [
            ("app/dist/public/index.html", page.as_str()),
            ("app/dist/outside.js", ""),
        ];
        let (run, found) = check_layout(&healthy_plus(&files, &[]), None);
        assert_eq!(run.code, 1, "{src}: {}", run.stdout);
        let f = only(&found, "asset-missing");
        assert!(
            f.len() == 1 && f[0].message.contains(missing),
            "{src}: {found:#?}"
        );
    }
}

#[test]
fn require_inside_a_function_is_a_warning() {
    let (run, found) = check("node-require-in-function", None);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "warning");
    assert_eq!(f[0].subject, "/app/dist/index.js:4");
    assert!(f[0].message.contains("`require(\"stripe\")`"));
    assert!(f[0].message.contains("MODULE_NOT_FOUND") && !f[0].message.contains("ERR_MODULE"));
    assert!(f[0]
        .message
        .contains("when the function that calls it runs"));
}

#[test]
fn a_subpath_the_exports_map_lacks_fails() {
    let (run, found) = check("node-exports-subpath", None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    // `featurekit/feature/a` matches `./feature/*`; `./internal/*` maps to null.
    assert_eq!(f.len(), 2, "{found:#?}");
    assert_eq!(f[1].subject, "/app/dist/index.js:3");
    assert!(
        f[1].message.contains("ERR_PACKAGE_IMPORT_NOT_DEFINED"),
        "{}",
        f[1].message
    );
    assert!(f[1]
        .message
        .contains("`/app/package.json` has no matching `imports` entry"));
    assert_eq!(f[0].subject, "/app/dist/index.js:2");
    assert!(f[0].message.contains("`featurekit/internal/hidden`"));
    assert!(f[0].message.contains("ERR_PACKAGE_PATH_NOT_EXPORTED"));
    assert!(f[0].message.contains(
        "`/app/node_modules/featurekit/package.json` has no entry for `./internal/hidden`"
    ));
}

/// Node 20.11 runs a `.js` file of a package without `"type": "module"` as
/// CommonJS and stops at its first `import`; 22.12 detects the syntax.
#[test]
fn esm_in_a_commonjs_package_fails_on_a_node_that_does_not_detect_it() {
    let (run, found) = check("node-module-format", None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "node-module-format");
    let subjects: Vec<&str> = f.iter().map(|f| f.subject.as_str()).collect();
    assert_eq!(
        subjects,
        ["/app/dist/index.js", "/app/dist/lib/helper.js"],
        "{found:#?}"
    );
    assert!(f[0].message.contains("Node 20.11.1"));
    assert!(only(&found, "import-unresolved").is_empty(), "{found:#?}");
    let (run, found) = check("node-module-format-detected", None);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(found.is_empty(), "{found:#?}");
    // An explicit `"type": "commonjs"` turns detection off on every version.
    let (run, found) = check("node-module-format-explicit", None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(only(&found, "node-module-format").len(), 2, "{found:#?}");
}

/// pnpm links each package into `.pnpm`; its dependencies are found beside its
/// real directory, as Node's realpath puts them.
#[test]
fn a_pnpm_layout_resolves_through_its_links() {
    let (run, found) = check("node-pnpm", None);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        found.iter().all(|f| f.code == "web-not-checked"),
        "{found:#?}"
    );
    assert!(
        run.stdout.contains("1 app file, 1 import, 2 packages"),
        "{}",
        run.stdout
    );
    let (run, found) = check("node-pnpm-broken", None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(
        f[0].subject,
        "/app/node_modules/.pnpm/express@4.21.2/node_modules/express/package.json"
    );
}

#[test]
fn a_missing_scoped_package_fails() {
    let (run, found) = check("node-scoped-missing", None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].subject, "/app/dist/index.js:2");
    assert!(f[0]
        .message
        .contains("no `node_modules/@aws-sdk/client-s3` in `/app/dist` or any directory above it"));
}

#[test]
fn a_dependency_missing_from_a_packages_own_chain_fails() {
    let (run, found) = check("node-transitive-missing", None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "error");
    assert_eq!(f[0].subject, "/app/node_modules/express/package.json");
    assert!(f[0]
        .message
        .contains("`express` declares the dependency `body-parser`"));
}

#[test]
fn ignore_in_the_spec_drops_a_specifier() {
    let (run, found) = check(
        "node-vite-static",
        Some("[checks]\nuser_exists = true\n\n[node]\nignore = [\"vite\"]\n"),
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(only(&found, "import-unresolved").is_empty(), "{found:#?}");
    let (run, found) = check("node-vite-static", Some("[node]\nenabled = false\n"));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn a_stylesheet_the_page_links_is_missing() {
    let (run, found) = check("web-css-missing", None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "asset-missing");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].subject, "/app/dist/public/index.html:6");
    assert!(f[0]
        .message
        .contains("`/app/dist/public/assets/index.css` does not exist"));
}

#[test]
fn a_font_the_stylesheet_loads_is_missing() {
    let (run, found) = check("web-font-missing", None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "asset-missing");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].subject, "/app/dist/public/assets/index.css:4");
    assert!(f[0].message.contains("`url()` loads `/fonts/inter.woff2`"));
}

#[test]
fn dist_public_missing_is_an_error_when_the_spec_names_it_and_a_note_otherwise() {
    let (run, found) = check("web-root-missing", Some("[web]\nroot = \"dist/public\"\n"));
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "asset-missing");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].subject, "/app/dist/public");
    let (run, found) = check("web-root-missing", None);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let f = only(&found, "web-not-checked");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "note");
    assert!(
        f[0].message.contains("`/app/dist/public`"),
        "{}",
        f[0].message
    );
}

#[test]
fn an_image_without_a_node_entry_says_the_check_did_not_run() {
    let (run, found) = check("root-no-node", None);
    let f = only(&found, "node-not-checked");
    assert_eq!(f.len(), 1, "{}", run.stdout);
    assert_eq!(f[0].severity, "note");
}

/// A bundle over the per-file read cap is said, never skipped in silence; app
/// scripts over the per-layer cap of kept contents do not make the image
/// unreadable (the image is read again keeping what it kept before).
#[test]
fn an_oversized_bundle_is_a_finding_and_a_layer_of_big_chunks_still_checks() {
    let (run, found) = check("node-oversized", None);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let f = only(&found, "node-not-checked");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "warning");
    assert_eq!(f[0].subject, "/app/dist/index.js");
    assert!(
        f[0].message
            .contains("is 17825792 bytes, more than the 16 MiB"),
        "{}",
        f[0].message
    );
}

/// The real build (`support::npm`) as an image: the `base` recipe (passwd, a
/// node stand-in), then the assembled `/app` folder as one layer, then
/// `remove` whited out.
fn real_image(script: &str, node_env: Option<&str>, remove: &[&str]) -> Layout {
    let mut r = load_recipe("base");
    let mut env =
        vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()];
    env.extend(node_env.map(|v| format!("NODE_ENV={v}")));
    r.config.env = Some(env);
    r.config.user = Some("node".into());
    r.config.workdir = Some("/app".into());
    r.config.cmd = Some(vec!["node".into(), script.into()]);
    let layer = |files: Vec<FileRecipe>, tree| LayerRecipe {
        compression: "gzip".into(),
        docker_media_types: false,
        created_by: None,
        files,
        tree,
    };
    r.layers.push(layer(
        vec![],
        Some((npm::app().to_path_buf(), "app".into())),
    ));
    if !remove.is_empty() {
        let wh = remove
            .iter()
            .map(|p| {
                let (dir, name) = p.rsplit_once('/').unwrap();
                FileRecipe {
                    path: format!("{dir}/.wh.{name}"),
                    text: Some(String::new()),
                    ..Default::default()
                }
            })
            .collect();
        r.layers.push(layer(wh, None));
    }
    layout_of(r, "v1")
}

/// The real build: image-check's verdict agrees with Node's, started on the
/// same folder with the same `NODE_ENV`.
#[test]
fn real_build_healthy_passes_and_node_starts() {
    let (run, found) = check_layout(&real_image("dist/index.js", Some("production"), &[]), None);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // The guarded dev-server import is the one thing said, as a warning.
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "warning");
    assert!(
        f[0].message.contains("`import(\"vite\")`"),
        "{}",
        f[0].message
    );
    assert!(only(&found, "asset-missing").is_empty(), "{found:#?}");
    // It did walk express's whole dependency tree: every package `npm ci` wrote
    // (its own record of them, nested copies included).
    let lock: serde_json::Value = serde_json::from_slice(
        &std::fs::read(npm::app().join("node_modules/.package-lock.json")).unwrap(),
    )
    .unwrap();
    let installed = lock["packages"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("node_modules/"))
        .count();
    assert!(
        run.stdout
            .contains(&format!("imports, {installed} packages")),
        "{installed} packages installed: {}",
        run.stdout
    );
    let (ok, err) = npm::start(npm::app(), "dist/index.js", &[("NODE_ENV", "production")]);
    assert!(ok, "node did not start: {err}");
}

#[test]
fn real_build_without_node_env_fails_as_node_does() {
    let (run, found) = check_layout(&real_image("dist/index.js", None, &[]), None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "error");
    assert!(f[0].message.contains("ERR_MODULE_NOT_FOUND"));
    let (ok, err) = npm::start(npm::app(), "dist/index.js", &[]);
    assert!(!ok, "node started although image-check said it would not");
    assert!(
        err.contains("ERR_MODULE_NOT_FOUND") && err.contains("'vite'"),
        "{err}"
    );
}

#[test]
fn real_build_with_vite_at_top_level_fails_as_node_does() {
    let (run, found) = check_layout(&real_image("dist/broken.js", Some("production"), &[]), None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "error");
    assert!(
        f[0].subject.starts_with("/app/dist/broken.js:"),
        "{}",
        f[0].subject
    );
    assert!(f[0].hint.contains("devDependencies"), "{}", f[0].hint);
    let (ok, err) = npm::start(npm::app(), "dist/broken.js", &[("NODE_ENV", "production")]);
    assert!(!ok, "node started although image-check said it would not");
    assert!(
        err.contains("ERR_MODULE_NOT_FOUND") && err.contains("'vite'"),
        "{err}"
    );
}

/// vite's build names its stylesheet by hash; dropping it from the image is what
/// incident 3 was.
#[test]
fn real_build_missing_its_stylesheet_fails() {
    let assets = npm::app().join("dist/public/assets");
    let css = std::fs::read_dir(&assets)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(".css"))
        .expect("vite wrote a stylesheet");
    let gone = format!("app/dist/public/assets/{css}");
    let (run, found) = check_layout(
        &real_image("dist/index.js", Some("production"), &[&gone]),
        None,
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "asset-missing");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert!(f[0].subject.starts_with("/app/dist/public/index.html:"));
    assert!(f[0].message.contains(&css));
}

#[test]
fn a_module_reached_lazily_and_at_start_is_judged_once_as_at_start() {
    let (run, found) = check("node-lazy-then-eager", None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].severity, "error");
    assert_eq!(f[0].subject, "/app/dist/shared.js:1");
}

#[test]
fn relative_imports_follow_esm_and_commonjs_rules() {
    let (run, found) = check("node-relative", None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = only(&found, "import-unresolved");
    assert_eq!(f.len(), 2, "{found:#?}");
    assert_eq!(f[0].subject, "/app/dist/index.js:1");
    assert!(f[0]
        .message
        .contains("`/app/dist/lib/helper` does not exist"));
    assert!(f[0].hint.contains("exact file name"), "{}", f[0].hint);
    assert_eq!(f[1].subject, "/app/dist/index.js:3");
    assert!(f[1].message.contains("ERR_UNSUPPORTED_DIR_IMPORT"));
    // `legacy.cjs` was read and its three requires resolved (to `util.js`,
    // `dir/index.js` and `data.json`).
    assert!(
        run.stdout.contains("5 app files, 6 imports"),
        "{}",
        run.stdout
    );
}

/// What users see for the ScaleMap incident and a lost font, in every format.
#[test]
fn app_checks_report_snapshot() {
    for recipe in ["node-vite-dynamic-no-env", "web-font-missing"] {
        let t = TempDir::new().unwrap();
        write_oci_dir(&build_layout(recipe, "v1"), &t.path().join("img"));
        for format in ["human", "json", "github"] {
            let run = image_check(&["--format", format, "oci:img:v1"], t.path());
            assert_eq!(run.code, 1, "{}", run.stdout);
            insta::assert_snapshot!(format!("{recipe}_{format}"), run.stdout);
        }
    }
}

/// Reads `recipe` with a fresh layer cache and counts the entries the run left:
/// one per layer when the image was read once, more when a second read kept
/// another set of contents.
fn check_counting_reads(recipe: &str) -> (Run, Vec<F>, usize, usize) {
    let layout = build_layout(recipe, "v1");
    let cache = TempDir::new().unwrap();
    let dir = cache.path().display().to_string();
    let (run, found) = check_run(&layout, None, None, &["--cache-dir", &dir]);
    let entries = std::fs::read_dir(cache.path().join("layers"))
        .map(|d| d.count())
        .unwrap_or(0);
    (run, found, entries, load_recipe(recipe).layers.len())
}

/// App scripts far past a layer's best-effort budget, in two layers whose kept
/// contents would together pass the image's listings limit: each layer keeps
/// its budget's worth and lists the rest, the image is read once (one cache
/// entry per layer), and the verdict stands.
#[test]
fn app_files_past_a_layers_budget_are_listed_and_the_image_is_read_once() {
    let (run, found, entries, layers) = check_counting_reads("node-app-files-over-listings");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("image-unreadable"), "{}", run.stdout);
    assert!(found.iter().all(|f| f.severity != "error"), "{found:#?}");
    assert_eq!(entries, layers, "the image was read more than once");
}

/// The entry comes after more app scripts than a layer keeps: the first read
/// lists it without contents, the second keeps it by path, and its top-level
/// import of a package production lacks is still an error (not a note that it
/// was not read).
#[test]
fn an_entry_past_a_layers_budget_is_read_again_by_path() {
    let (run, found, entries, layers) = check_counting_reads("node-entry-past-budget");
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let f = found
        .iter()
        .find(|f| f.code == "import-unresolved")
        .unwrap_or_else(|| panic!("{found:#?}"));
    assert_eq!(f.severity, "error");
    assert!(f.message.contains("`vite`"), "{f:#?}");
    assert!(
        !found.iter().any(|f| f.code == "node-not-checked"),
        "{found:#?}"
    );
    assert!(entries > layers, "no second read: {entries} entries");
}

/// The same for the page: an `index.html` past the budget is read again by path
/// and its missing stylesheet found.
#[test]
fn a_page_past_a_layers_budget_is_read_again_by_path() {
    let (run, found, _, _) = check_counting_reads("web-page-past-budget");
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        found
            .iter()
            .any(|f| f.code == "asset-missing" && f.message.contains("/assets/gone.css")),
        "{found:#?}"
    );
    assert!(
        !found.iter().any(|f| f.code == "web-not-checked"),
        "{found:#?}"
    );
}

/// The entry lies past its layer's budget, and the app scripts asked for by
/// path beside it (its package's, up to 32 MiB) on top of what 17 layers keep
/// best-effort pass the image's listings limit: the last read keeps the entry
/// by path and no more, so its missing top-level import is still an error (not
/// a note that the entry was not read, which left the gate open: hostile-node
/// HIGH 5).
#[test]
fn an_entry_is_still_read_when_the_app_files_asked_for_pass_the_listings_limit() {
    let mut r = load_recipe("node-entry-past-budget");
    let top = r.layers.pop().unwrap();
    for i in 0..17 {
        r.layers.push(LayerRecipe {
            // Plain tar: 68 MiB through gzip in a debug build costs a minute.
            compression: "none".into(),
            docker_media_types: false,
            created_by: Some(format!("COPY chunks-{i} ./chunks-{i}")),
            files: ["a", "b"]
                .iter()
                .map(|n| FileRecipe {
                    path: format!("app/chunks-{i}/{n}.js"),
                    bytes: Some(2 << 20),
                    ..FileRecipe::default()
                })
                .collect(),
            tree: None,
        });
    }
    r.layers.push(top);
    let (run, found) = check_layout(&layout_of(r, "v1"), None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        found.iter().any(|f| f.code == "import-unresolved"
            && f.severity == "error"
            && f.message.contains("`vite`")),
        "{found:#?}"
    );
}

/// A script the entry imports lies past its layer's best-effort budget (the
/// entry itself was kept): the walk from the entry names it as needed and
/// unread, the second read keeps it by path, and its own missing import is
/// an error, not a note that it was not read.
#[test]
fn an_imported_script_past_a_layers_budget_is_read_again_by_path() {
    let mut r = load_recipe("node-app");
    let text = |t: &str| FileRecipe {
        path: String::new(),
        text: Some(t.to_string()),
        ..FileRecipe::default()
    };
    let at = |mut f: FileRecipe, p: &str| {
        f.path = p.to_string();
        f
    };
    let helper = format!(
        "import \"ghost-pkg\";\nexport const h = 1;\n{}",
        "// padding\n".repeat(800)
    );
    r.layers.push(LayerRecipe {
        compression: "gzip".into(),
        docker_media_types: false,
        created_by: Some("COPY --from=build /app/dist ./dist".into()),
        files: vec![
            at(
                text("import { h } from \"./lib/helper.js\";\nconsole.log(h);\n"),
                "app/dist/index.js",
            ),
            FileRecipe {
                path: "app/dist/chunk.js".into(),
                bytes: Some((2 << 20) - 200),
                ..FileRecipe::default()
            },
            at(text(&helper), "app/dist/lib/helper.js"),
        ],
        tree: None,
    });
    let (run, found) = check_layout(&layout_of(r, "v1"), None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let f = found
        .iter()
        .find(|f| f.code == "import-unresolved")
        .unwrap_or_else(|| panic!("{found:#?}"));
    assert!(
        f.message.contains("`ghost-pkg`") && f.subject.contains("lib/helper.js"),
        "{f:#?}"
    );
    assert!(
        !found.iter().any(|f| f.code == "node-not-checked"),
        "{found:#?}"
    );
}

/// A chain of imports (`a` → `b` → `c` → a missing package), all past the
/// entry's layer's budget: the scripts beside the first unread one come with
/// it, so the whole chain is read and the missing import is an error (one
/// script per read would need more reads than image-check makes).
#[test]
fn a_chain_of_imports_past_a_layers_budget_is_read_by_path_at_once() {
    let mut r = load_recipe("node-app");
    let pad = "// padding\n".repeat(800);
    let text = |p: &str, t: String| FileRecipe {
        path: p.to_string(),
        text: Some(t),
        ..FileRecipe::default()
    };
    r.layers.push(LayerRecipe {
        compression: "gzip".into(),
        docker_media_types: false,
        created_by: Some("COPY --from=build /app/dist ./dist".into()),
        files: vec![
            text("app/dist/index.js", "import \"./lib/a.js\";\n".into()),
            FileRecipe {
                path: "app/dist/chunk.js".into(),
                bytes: Some((2 << 20) - 200),
                ..FileRecipe::default()
            },
            text("app/dist/lib/a.js", format!("import \"./b.js\";\n{pad}")),
            text("app/dist/lib/b.js", format!("import \"./c.js\";\n{pad}")),
            text("app/dist/lib/c.js", format!("import \"./d.js\";\n{pad}")),
            text("app/dist/lib/d.js", format!("import \"ghost-pkg\";\n{pad}")),
        ],
        tree: None,
    });
    let (run, found) = check_layout(&layout_of(r, "v1"), None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        found
            .iter()
            .any(|f| f.code == "import-unresolved" && f.subject.contains("lib/d.js")),
        "{found:#?}"
    );
    assert!(
        !found.iter().any(|f| f.code == "node-not-checked"),
        "{found:#?}"
    );
}

/// Manifests past a layer's 16 MiB manifest budget, in a dependency chain
/// (`foo` needs `bar`, `bar` needs `baz`, absent): every unread manifest is
/// asked for at once, and the missing dependency is an error, not a note that
/// `package.json` files were judged unread.
#[test]
fn a_dependency_chain_past_the_manifest_budget_is_read_by_path_at_once() {
    let mut r = load_recipe("node-app");
    let mut files: Vec<FileRecipe> = (0..17)
        .map(|i| FileRecipe {
            path: format!("app/node_modules/aa-pad-{i:02}/package.json"),
            text: Some(format!(
                "{{\"name\":\"aa-pad-{i:02}\",\"description\":\"{}\"}}",
                "x".repeat(1 << 20)
            )),
            ..FileRecipe::default()
        })
        .collect();
    let text = |p: &str, t: &str| FileRecipe {
        path: p.to_string(),
        text: Some(t.to_string()),
        ..FileRecipe::default()
    };
    files.extend([
        text(
            "app/node_modules/foo/package.json",
            r#"{"name":"foo","main":"index.js","dependencies":{"bar":"1"}}"#,
        ),
        text(
            "app/node_modules/foo/index.js",
            "module.exports = require('bar');\n",
        ),
        text(
            "app/node_modules/bar/package.json",
            r#"{"name":"bar","main":"index.js","dependencies":{"baz":"1"}}"#,
        ),
        text(
            "app/node_modules/bar/index.js",
            "module.exports = require('baz');\n",
        ),
        text(
            "app/dist/index.js",
            "import foo from \"foo\";\nconsole.log(foo);\n",
        ),
    ]);
    r.layers.push(LayerRecipe {
        compression: "gzip".into(),
        docker_media_types: false,
        created_by: Some("COPY . .".into()),
        files,
        tree: None,
    });
    let (run, found) = check_layout(&layout_of(r, "v1"), None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        found
            .iter()
            .any(|f| f.code == "import-unresolved" && f.message.contains("`baz`")),
        "{found:#?}"
    );
    assert!(
        !found.iter().any(|f| f.code == "node-not-checked"),
        "{found:#?}"
    );
}
