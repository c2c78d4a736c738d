//! A real Node app, built the way the deploys this project exists for were built:
//! `npm install`, `esbuild --bundle --platform=node --packages=external
//! --format=esm` for the server, `vite build` for a small React page, then
//! `npm ci --omit=dev` for the production `node_modules`. The app checks are
//! cross-checked against this folder by running Node on it.
//!
//! Everything lives under Cargo's target directory (`CARGO_TARGET_TMPDIR`): the
//! npm cache and the finished folder, behind a stamp, so a rerun does no network
//! and no build. The first run reaches the npm registry (the issue asks for a
//! real build; every other test stays on loopback); the versions are pinned.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Bump when the app's sources or versions change: the stamp names it.
const VERSION: &str = "1";

const PACKAGE_JSON: &str = r#"{
  "name": "realapp",
  "private": true,
  "type": "module",
  "dependencies": { "express": "4.21.2" },
  "devDependencies": {
    "esbuild": "0.24.2",
    "vite": "5.4.11",
    "react": "18.3.1",
    "react-dom": "18.3.1"
  }
}
"#;

/// The server: vite only in development, behind a `NODE_ENV` check (as the
/// ScaleMap server did). `SHIPCHECK_STARTED_EXIT` makes it exit once every
/// import has loaded, so the cross-check never listens.
const SERVER: &str = r#"import express from "express";
import path from "node:path";
import { fileURLToPath } from "node:url";

const app = express();
if (process.env.NODE_ENV !== "production") {
  const { createServer } = await import("vite");
  const vite = await createServer({ server: { middlewareMode: true } });
  app.use(vite.middlewares);
} else {
  app.use(express.static(path.join(path.dirname(fileURLToPath(import.meta.url)), "public")));
}
if (process.env.SHIPCHECK_STARTED_EXIT) {
  console.log("started");
  process.exit(0);
}
app.listen(Number(process.env.PORT ?? 3000), "127.0.0.1");
"#;

/// The same server with vite imported at the top, as a bundler emits it when the
/// dev-server module is imported statically.
const SERVER_BROKEN: &str = r#"import express from "express";
import { createServer } from "vite";

const app = express();
if (process.env.NODE_ENV !== "production") {
  const vite = await createServer({ server: { middlewareMode: true } });
  app.use(vite.middlewares);
}
if (process.env.SHIPCHECK_STARTED_EXIT) {
  console.log("started");
  process.exit(0);
}
app.listen(3000, "127.0.0.1");
"#;

const VITE_CONFIG: &str = r#"export default {
  root: "web",
  build: { outDir: "../dist/public", emptyOutDir: true },
};
"#;

const INDEX_HTML: &str = r#"<!doctype html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <link rel="icon" href="/favicon.svg" />
    <title>realapp</title>
  </head>
  <body>
    <div id="root"></div>
    <script type="module" src="/main.js"></script>
  </body>
</html>
"#;

const MAIN_JS: &str = r#"import React from "react";
import { createRoot } from "react-dom/client";
import "./style.css";

createRoot(document.getElementById("root")).render(React.createElement("h1", null, "realapp"));
"#;

const STYLE_CSS: &str = r#"@font-face { font-family: Inter; src: url("/fonts/inter.woff2") format("woff2"); }
h1 { font-family: Inter, sans-serif; }
"#;

fn run(dir: &Path, cache: &Path, args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .current_dir(dir)
        .env("npm_config_cache", cache)
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_audit", "false")
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e} (node and npm are installed by `.ci/install`)"));
    assert!(
        out.status.success(),
        "{args:?} in {}: {}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// The assembled production folder (what the image's `/app` holds):
/// `package.json`, `node_modules` from `npm ci --omit=dev`, `dist/index.js`
/// (the healthy bundle), `dist/broken.js` (vite at top level) and
/// `dist/public` (vite's build of the page).
pub fn app() -> &'static Path {
    static APP: OnceLock<PathBuf> = OnceLock::new();
    APP.get_or_init(|| {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("npm-realapp");
        let prod = base.join(format!("prod-{VERSION}"));
        let stamp = base.join(format!("stamp-{VERSION}"));
        if stamp.exists() {
            return prod;
        }
        let cache = base.join("npm-cache");
        let src = base.join(format!("src-{VERSION}"));
        let _ = std::fs::remove_dir_all(&src);
        let _ = std::fs::remove_dir_all(&prod);
        write(&src, "package.json", PACKAGE_JSON);
        write(&src, "server.js", SERVER);
        write(&src, "server-broken.js", SERVER_BROKEN);
        write(&src, "vite.config.js", VITE_CONFIG);
        write(&src, "web/index.html", INDEX_HTML);
        write(&src, "web/main.js", MAIN_JS);
        write(&src, "web/style.css", STYLE_CSS);
        write(
            &src,
            "web/public/favicon.svg",
            "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        );
        write(&src, "web/public/fonts/inter.woff2", "not really a font");
        run(&src, &cache, &["npm", "install", "--prefer-offline"]);
        for (entry, out) in [
            ("server.js", "dist/index.js"),
            ("server-broken.js", "dist/broken.js"),
        ] {
            run(
                &src,
                &cache,
                &[
                    "npx",
                    "--no-install",
                    "esbuild",
                    entry,
                    "--bundle",
                    "--platform=node",
                    "--packages=external",
                    "--format=esm",
                    &format!("--outfile={out}"),
                ],
            );
        }
        run(&src, &cache, &["npx", "--no-install", "vite", "build"]);
        std::fs::create_dir_all(&prod).unwrap();
        for f in ["package.json", "package-lock.json"] {
            std::fs::copy(src.join(f), prod.join(f)).unwrap();
        }
        run(
            &prod,
            &cache,
            &["npm", "ci", "--omit=dev", "--prefer-offline"],
        );
        copy_dir(&src.join("dist"), &prod.join("dist"));
        std::fs::write(&stamp, "").unwrap();
        prod
    })
}

/// Runs `node SCRIPT` in the folder with `env`, as the container would start;
/// the server exits once its imports have loaded. Returns (exit ok, stderr).
pub fn start(dir: &Path, script: &str, env: &[(&str, &str)]) -> (bool, String) {
    let mut c = Command::new("node");
    c.arg(script)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SHIPCHECK_STARTED_EXIT", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("node is installed");
    (
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("started"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
