//! `image-check taskdef`: the deploy-time lint of ECS task definitions in every
//! input shape under `fixtures/taskdef/`, against `images/scalemap-api.toml`. The
//! JSON report is the oracle; each finding's line is checked against the line
//! of the fixture's text that it must point at, found by searching the text.

use crate::support::fixture::{build_layout, write_oci_dir};
use crate::support::image::findings_at as findings;
use crate::support::{image_check, json_lines, project_root, Run};
use tempfile::TempDir;

const HEALTHY: &[&str] = &[
    "describe.json",
    "describe-unwrapped.json",
    "register.json",
    "containers.json",
    "cfn.json",
    "cfn.yaml",
    "cdk.template.json",
];

fn fixture(name: &str) -> String {
    format!("fixtures/taskdef/{name}")
}

fn lint(name: &str, extra: &[&str]) -> (Run, Vec<serde_json::Value>) {
    let f = fixture(name);
    let mut args = vec!["taskdef", "--format", "json", &f];
    args.extend_from_slice(extra);
    let run = image_check(&args, project_root());
    let lines = json_lines(&run.stdout);
    (run, lines)
}

/// The 1-based line of the first line of the fixture that `pred` accepts.
fn line_where(name: &str, pred: impl Fn(&str) -> bool) -> u64 {
    let text = std::fs::read_to_string(project_root().join(fixture(name))).unwrap();
    text.lines()
        .position(pred)
        .map(|i| i as u64 + 1)
        .unwrap_or_else(|| panic!("{name}: no such line"))
}

fn env_key_line(name: &str) -> u64 {
    line_where(name, |l| {
        let t = l.trim_start().to_ascii_lowercase();
        t.starts_with("\"environment\":") || t.starts_with("environment:")
    })
}

fn only(lines: &[serde_json::Value], code: &str) -> Vec<(String, String, String, Option<u64>)> {
    findings(lines)
        .into_iter()
        .filter(|f| f.0 == code)
        .collect()
}

#[test]
fn the_apps_real_task_definition_passes_in_every_input_shape() {
    for name in HEALTHY {
        let (run, lines) = lint(name, &[]);
        assert_eq!(run.code, 0, "{name}: {}{}", run.stdout, run.stderr);
        let errors: Vec<_> = findings(&lines)
            .into_iter()
            .filter(|f| f.1 != "note")
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        // The spec was found by the container image's repository, in every shape
        // (CloudFormation's images are `!Sub`/`Fn::Join` templates).
        let summary = lines.last().unwrap();
        assert!(
            summary.to_string().contains("images/scalemap-api.toml"),
            "{name}: {summary}"
        );
        assert!(lines
            .iter()
            .any(|l| l["name"] == "env" && l["status"] == "passed"));
    }
}

#[test]
fn a_missing_s3_bucket_name_is_caught_at_its_environment_line_in_every_input_shape() {
    for name in [
        "describe-no-s3-bucket.json",
        "describe-unwrapped-no-s3-bucket.json",
        "register-no-s3-bucket.json",
        "containers-no-s3-bucket.json",
        "cfn-no-s3-bucket.json",
        "cfn-no-s3-bucket.yaml",
        "cdk-no-s3-bucket.template.json",
    ] {
        let (run, lines) = lint(name, &[]);
        assert_eq!(run.code, 1, "{name}: {}{}", run.stdout, run.stderr);
        let all = findings(&lines);
        assert_eq!(
            all,
            vec![(
                "taskdef-env-missing".to_string(),
                "error".to_string(),
                "S3_BUCKET_NAME".to_string(),
                Some(env_key_line(name))
            )],
            "{name}"
        );
    }
    // The same finding as a GitHub annotation on the task definition's line.
    let f = fixture("describe-no-s3-bucket.json");
    let run = image_check(&["taskdef", "--format", "github", &f], project_root());
    assert_eq!(run.code, 1);
    let want = format!(
        "::error file={f},line={},",
        env_key_line("describe-no-s3-bucket.json")
    );
    assert!(run.stdout.contains(&want), "{}", run.stdout);
}

#[test]
fn a_value_from_with_wildcards_is_an_error_at_its_line() {
    for name in ["describe-wildcard-secret.json", "cfn-wildcard-secret.yaml"] {
        let (run, lines) = lint(name, &[]);
        assert_eq!(run.code, 1, "{name}: {}", run.stdout);
        let got = only(&lines, "taskdef-secret-ref-invalid");
        assert_eq!(got.len(), 1, "{name}: {got:?}");
        assert_eq!(got[0].3, Some(line_where(name, |l| l.contains("??????"))));
        assert_eq!(findings(&lines).len(), 1, "{name}: {:?}", findings(&lines));
    }
}

#[test]
fn secret_shaped_environment_values_are_errors_and_never_printed_in_any_format() {
    for name in ["describe-secret-in-env.json", "cfn-secret-in-env.yaml"] {
        let (run, lines) = lint(name, &[]);
        assert_eq!(run.code, 1, "{name}");
        let got = only(&lines, "taskdef-secret-in-environment");
        let want: Vec<u64> = {
            let text = std::fs::read_to_string(project_root().join(fixture(name))).unwrap();
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.contains("CANARY"))
                .map(|(i, _)| i as u64 + 1)
                .collect()
        };
        assert_eq!(
            got.iter().map(|f| f.3.unwrap()).collect::<Vec<_>>(),
            want,
            "{name}"
        );
        for format in ["human", "json", "junit", "github"] {
            let f = fixture(name);
            let run = image_check(&["taskdef", "--format", format, &f], project_root());
            assert_eq!(run.code, 1);
            for out in [&run.stdout, &run.stderr] {
                assert!(
                    !out.contains("CANARY") && !out.contains("sk_live_"),
                    "{name} {format}: {out}"
                );
            }
        }
    }
}

#[test]
fn secrets_without_an_execution_role_fail() {
    for name in [
        "describe-no-execution-role.json",
        "cfn-no-execution-role.yaml",
    ] {
        let (run, lines) = lint(name, &[]);
        assert_eq!(run.code, 1, "{name}: {}", run.stdout);
        assert_eq!(
            only(&lines, "taskdef-execution-role-missing").len(),
            1,
            "{name}"
        );
        assert_eq!(findings(&lines).len(), 1, "{name}: {:?}", findings(&lines));
    }
}

#[test]
fn an_s3_requiring_spec_without_a_task_role_fails_and_passes_when_s3_is_not_required() {
    for name in ["describe-no-task-role.json", "cfn-no-task-role.yaml"] {
        let (run, lines) = lint(name, &[]);
        assert_eq!(run.code, 1, "{name}: {}", run.stdout);
        assert_eq!(findings(&lines).len(), 1, "{name}: {:?}", findings(&lines));
        assert_eq!(only(&lines, "taskdef-task-role-missing").len(), 1);
    }
    // The same task against a spec that does not require the S3 probe.
    let t = TempDir::new().unwrap();
    let spec = std::fs::read_to_string(project_root().join("images/scalemap-api.toml"))
        .unwrap()
        .replace(
            "[preflight.s3]\nbucket_env = \"S3_BUCKET_NAME\"\nrequired = true\n",
            "",
        );
    assert!(!spec.contains("[preflight.s3]"));
    let p = t.path().join("no-s3.toml");
    std::fs::write(&p, spec).unwrap();
    let (run, lines) = lint(
        "describe-no-task-role.json",
        &["--spec", p.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(findings(&lines).is_empty());
}

#[test]
fn a_variable_set_only_by_the_image_env_passes_with_image_and_fails_without() {
    let name = "register-node-env-from-image.json";
    let (run, lines) = lint(name, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let got = only(&lines, "taskdef-env-missing");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, "NODE_ENV");
    assert_eq!(got[0].3, Some(env_key_line(name)));
    // The healthy image's ENV has NODE_ENV=production.
    let t = TempDir::new().unwrap();
    write_oci_dir(&build_layout("healthy", "v1"), &t.path().join("img"));
    let image = format!("oci:{}:v1", t.path().join("img").display());
    let (run, lines) = lint(name, &["--image", &image]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(findings(&lines).is_empty(), "{:?}", findings(&lines));
}

#[test]
fn image_check_with_taskdef_runs_the_image_checks_and_the_lint_in_one_report() {
    let t = TempDir::new().unwrap();
    write_oci_dir(&build_layout("healthy", "v1"), &t.path().join("img"));
    let image = format!("oci:{}:v1", t.path().join("img").display());
    let spec = project_root().join("images/scalemap-api.toml");
    let run = |td: &str| {
        let f = fixture(td);
        image_check(
            &[
                "--format",
                "json",
                "--spec",
                spec.to_str().unwrap(),
                "--taskdef",
                &f,
                &image,
            ],
            project_root(),
        )
    };
    let ok = run("describe.json");
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    let lines = json_lines(&ok.stdout);
    assert!(lines.iter().any(|l| l["name"] == "cmd-target"));
    assert!(lines.iter().any(|l| l["name"] == "env"));
    let bad = run("describe-no-s3-bucket.json");
    assert_eq!(bad.code, 1);
    let lines = json_lines(&bad.stdout);
    assert_eq!(only(&lines, "taskdef-env-missing").len(), 1);
    let bad = run("not-there.json");
    assert_eq!(bad.code, 2, "{}", bad.stdout);
    assert_eq!(only(&json_lines(&bad.stdout), "taskdef-invalid").len(), 1);
}

#[test]
fn unreadable_or_shapeless_task_definitions_and_a_missing_spec_exit_2() {
    let t = TempDir::new().unwrap();
    let cases = [
        (
            "bad.json",
            "{\n  \"containerDefinitions\": [\n    {\"name\": sk_live_CANARY}\n  ]\n}\n",
            Some(3),
        ),
        ("none.json", "{\"family\": \"x\"}\n", None),
        (
            "two.json",
            "[{\"name\": \"a\", \"image\": \"a\"}, {\"name\": \"b\", \"image\": \"b\"}]\n",
            None,
        ),
        (
            "bad.yaml",
            "Resources:\n  T: &x\n    Type: AWS::ECS::TaskDefinition\n  U: *x\n",
            Some(2),
        ),
    ];
    for (name, text, line) in cases {
        let p = t.path().join(name);
        std::fs::write(&p, text).unwrap();
        let spec = project_root().join("images/scalemap-api.toml");
        let run = image_check(
            &[
                "taskdef",
                "--format",
                "json",
                "--spec",
                spec.to_str().unwrap(),
                p.to_str().unwrap(),
            ],
            t.path(),
        );
        assert_eq!(run.code, 2, "{name}: {}", run.stdout);
        let lines = json_lines(&run.stdout);
        let got = only(&lines, "taskdef-invalid");
        assert_eq!(got.len(), 1, "{name}: {}", run.stdout);
        assert_eq!(got[0].3, line, "{name}");
        assert!(!run.stdout.contains("CANARY") && !run.stderr.contains("CANARY"));
    }
    // No spec given, none found from the working directory: the env check could
    // not run, which is never a pass.
    let f = project_root().join(fixture("describe.json"));
    let run = image_check(
        &["taskdef", "--format", "json", f.to_str().unwrap()],
        t.path(),
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(only(&json_lines(&run.stdout), "taskdef-no-spec").len(), 1);
    // Two essential containers and `--container` picks one.
    let two = t.path().join("two.json");
    let run = image_check(
        &[
            "taskdef",
            "--format",
            "json",
            "--container",
            "b",
            "--spec",
            project_root()
                .join("images/scalemap-api.toml")
                .to_str()
                .unwrap(),
            two.to_str().unwrap(),
        ],
        t.path(),
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("container `b`"), "{}", run.stdout);
}

/// `taskdef --image` reads the config, never a layer: with every layer blob
/// gone the lint still reads the image's ENV (the full check cannot run), while
/// a config or manifest whose bytes no longer match their digest is exit 2.
#[test]
fn taskdef_image_reads_the_verified_config_and_no_layer() {
    let t = TempDir::new().unwrap();
    let dir = t.path().join("img");
    write_oci_dir(&build_layout("healthy", "v1"), &dir);
    let blob = |d: &str| {
        dir.join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(&manifest_digest)).unwrap()).unwrap();
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    assert!(!layers.is_empty());
    for l in &layers {
        std::fs::remove_file(blob(l)).unwrap();
    }
    let image = format!("oci:{}:v1", dir.display());
    let name = "register-node-env-from-image.json";
    let (run, lines) = lint(name, &["--image", &image]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(findings(&lines).is_empty(), "{:?}", findings(&lines));
    // The layers really are gone: the image checks cannot read them.
    let full = image_check(&["--format", "json", "--no-cache", &image], project_root());
    assert_eq!(full.code, 2, "{}", full.stdout);

    let flip = |p: std::path::PathBuf| {
        let mut b = std::fs::read(&p).unwrap();
        let i = b.iter().position(|&c| c == b'{').unwrap();
        b.insert(i + 1, b' ');
        std::fs::write(&p, b).unwrap();
    };
    let config = manifest["config"]["digest"].as_str().unwrap().to_string();
    flip(blob(&config));
    let (run, lines) = lint(name, &["--image", &image]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains(config.trim_start_matches("sha256:").get(..12).unwrap()),
        "{}",
        run.stdout
    );
    assert!(findings(&lines).iter().all(|f| f.1 == "error"));
    flip(blob(&manifest_digest));
    let (run, _) = lint(name, &["--image", &image]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
}

/// Each check the healthy fixtures pass silently, made to fire in a fixture of
/// its own: the finding's code, severity and line, and the exit code with and
/// without `--strict` (warnings fail only under it).
#[test]
fn region_ports_health_essential_and_partial_arn_rules_fire_at_their_lines() {
    type Pred = fn(&str) -> bool;
    let cases: &[(&str, &str, &str, Pred)] = &[
        (
            "describe-secret-other-region.json",
            "taskdef-secret-region",
            "warning",
            |l| l.contains("secretsmanager:us-east-1"),
        ),
        // No `taskDefinitionArn`: the task's region is the container's AWS_REGION.
        (
            "register-secret-other-region.json",
            "taskdef-secret-region",
            "warning",
            |l| l.contains("secretsmanager:us-east-1"),
        ),
        (
            "describe-partial-secret-arn.json",
            "taskdef-secret-ref-partial",
            "warning",
            |l| l.contains("stripe-secret-key\""),
        ),
        (
            "describe-port-missing.json",
            "taskdef-port-missing",
            "error",
            |l| l.contains("\"portMappings\""),
        ),
        (
            "describe-no-healthcheck.json",
            "taskdef-healthcheck-missing",
            "warning",
            // The container's object: the first `{` at its indentation.
            |l| l == "            {",
        ),
        (
            "describe-healthcheck-other-path.json",
            "taskdef-healthcheck-path",
            "warning",
            |l| l.contains("\"healthCheck\""),
        ),
        (
            "describe-not-essential.json",
            "taskdef-not-essential",
            "error",
            |l| l.contains("\"essential\": false"),
        ),
    ];
    for &(name, code, severity, pred) in cases {
        let (run, lines) = lint(name, &[]);
        let want_line = line_where(name, pred);
        assert_eq!(
            findings(&lines),
            vec![(
                code.to_string(),
                severity.to_string(),
                if code.starts_with("taskdef-secret") {
                    "STRIPE_SECRET_KEY".to_string()
                } else {
                    "api".to_string()
                },
                Some(want_line)
            )],
            "{name}"
        );
        let want = if severity == "error" { 1 } else { 0 };
        assert_eq!(run.code, want, "{name}: {}", run.stdout);
        let (strict, _) = lint(name, &["--strict"]);
        assert_eq!(strict.code, 1, "{name} --strict");
    }
}

/// The same checks read from CloudFormation YAML's PascalCase keys, at the
/// template's lines.
#[test]
fn cloudformation_yaml_not_essential_wrong_port_and_no_health_check() {
    let name = "cfn-not-essential-port-health.yaml";
    let (run, lines) = lint(name, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let mut got = findings(&lines);
    got.sort();
    let at = |code: &str, severity: &str, pred: fn(&str) -> bool| {
        (
            code.to_string(),
            severity.to_string(),
            "api".to_string(),
            Some(line_where(name, pred)),
        )
    };
    assert_eq!(
        got,
        vec![
            at("taskdef-healthcheck-missing", "warning", |l| l
                .trim_start()
                .starts_with("- Name: api")),
            at("taskdef-not-essential", "error", |l| l
                .contains("Essential: false")),
            at("taskdef-port-missing", "error", |l| l
                .contains("PortMappings:")),
        ]
    );
}

/// `readonlyRootFilesystem` is a note only against an image whose WORKDIR
/// (`/app` in the healthy image) has no volume mounted; without `--image` the
/// WORKDIR is unknown and nothing is said.
#[test]
fn a_read_only_root_is_a_note_only_when_the_images_workdir_has_no_volume() {
    let t = TempDir::new().unwrap();
    write_oci_dir(&build_layout("healthy", "v1"), &t.path().join("img"));
    let image = format!("oci:{}:v1", t.path().join("img").display());
    let name = "describe-readonly-root.json";
    let (run, lines) = lint(name, &["--image", &image, "--strict"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        findings(&lines),
        vec![(
            "taskdef-readonly-workdir".to_string(),
            "note".to_string(),
            "api".to_string(),
            Some(line_where(name, |l| l.contains("\"readonlyRootFilesystem\"")))
        )]
    );
    let (run, lines) = lint(name, &[]);
    assert_eq!(run.code, 0);
    assert!(findings(&lines).is_empty(), "{:?}", findings(&lines));
    let (run, lines) = lint("describe-readonly-root-mounted.json", &["--image", &image]);
    assert_eq!(run.code, 0);
    assert!(findings(&lines).is_empty(), "{:?}", findings(&lines));
}

/// Hostile H2/M6: with several `images/*.toml`, each container is checked
/// against its own image's spec (the app's was checked against the sidecar's
/// listed first), and every container whose image has a spec is checked, the
/// app included when a sidecar is the only essential container.
#[test]
fn each_container_is_checked_against_its_own_images_spec() {
    let t = TempDir::new().unwrap();
    std::fs::create_dir(t.path().join("images")).unwrap();
    std::fs::copy(
        project_root().join("images/scalemap-api.toml"),
        t.path().join("images/scalemap-api.toml"),
    )
    .unwrap();
    std::fs::write(
        t.path().join("images/envoy.toml"),
        "[preflight]\n[[preflight.env]]\nname = \"ENVOY_ADMIN\"\noptional = true\n",
    )
    .unwrap();
    let describe =
        std::fs::read_to_string(project_root().join(fixture("describe-no-s3-bucket.json")))
            .unwrap();
    let sidecar = r#"{"name": "envoy", "image": "envoyproxy/envoy:v1.30", "essential": ESSENTIAL, "logConfiguration": {"logDriver": "awslogs"}},
            {"#;
    for (sidecar_essential, api_essential) in [("false", "true"), ("true", "false")] {
        let text = describe
            .replacen(
                "{\n                \"name\": \"api\"",
                &format!(
                    "{}\n                \"name\": \"api\"",
                    sidecar.replace("ESSENTIAL", sidecar_essential)
                ),
                1,
            )
            .replace(
                "\"essential\": true",
                &format!("\"essential\": {api_essential}"),
            );
        assert!(text.contains("envoyproxy"));
        let f = t.path().join("td.json");
        std::fs::write(&f, &text).unwrap();
        for extra in [&[][..], &["--container", "api"][..]] {
            let mut args = vec!["taskdef", "--format", "json", f.to_str().unwrap()];
            args.extend_from_slice(extra);
            let run = image_check(&args, t.path());
            assert_eq!(run.code, 1, "{extra:?}: {}{}", run.stdout, run.stderr);
            let lines = json_lines(&run.stdout);
            // Each section names its own container's spec.
            for target in &lines.last().unwrap()["targets"].as_array().unwrap()[..] {
                let notes = target["notes"].to_string();
                let name = target["target"].as_str().unwrap();
                let want = if name.ends_with("`api`") {
                    "images/scalemap-api.toml"
                } else {
                    "images/envoy.toml"
                };
                assert!(notes.contains(want), "{name}: {notes}");
            }
            let api: Vec<serde_json::Value> = lines
                .iter()
                .filter(|l| {
                    l["target"]
                        .as_str()
                        .is_some_and(|t| t.ends_with("container `api`"))
                })
                .cloned()
                .collect();
            assert!(!api.is_empty(), "{}", run.stdout);
            let mut got: Vec<String> = findings(&api).into_iter().map(|f| f.0).collect();
            got.sort();
            let mut want = vec!["taskdef-env-missing"];
            if api_essential == "false" {
                want.push("taskdef-not-essential");
            }
            assert_eq!(got, want, "{extra:?} {sidecar_essential}: {}", run.stdout);
        }
    }
}
