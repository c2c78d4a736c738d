#!/usr/bin/env python3
"""Writes an OCI image layout of a Node API as it ships: a node:20-slim-like
base layer, the app's real production node_modules (npm ci output), and an
esbuild-style bundle importing those packages with the frontend build beside it.

    bench/gen_node_image.py APP_DIR OUT_DIR

APP_DIR holds package.json and node_modules. Layers are gzip (level 6, as
docker and buildah write them); names, owners and times are fixed, so the same
APP_DIR gives the same image.
"""
import gzip, hashlib, io, json, os, sys, tarfile

BUNDLE = b'''// server/index.ts
import express from "express";
import pg from "pg";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { S3Client, HeadBucketCommand } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import Stripe from "stripe";
import OpenAI from "openai";
import { drizzle } from "drizzle-orm/node-postgres";
import { z } from "zod";
import sharp from "sharp";
import AWS from "aws-sdk";

// server/config.ts
var Env = z.object({ PORT: z.coerce.number().default(3e3), DATABASE_URL: z.string() });
var env = Env.parse(process.env);

// server/index.ts
var __dirname = path.dirname(fileURLToPath(import.meta.url));
var pool = new pg.Pool({ connectionString: env.DATABASE_URL });
var db = drizzle(pool);
var s3 = new S3Client({});
var secrets = new SecretsManagerClient({});
var dynamo = new DynamoDBClient({});
var cognito = new CognitoIdentityProviderClient({});
var stripe = new Stripe(process.env.STRIPE_SECRET_KEY ?? "");
var openai = new OpenAI({ apiKey: process.env.OPENAI_API_KEY });
var legacy = new AWS.SQS();
var app = express();
app.use(express.json());
app.get("/api/health", async (_req, res) => {
  await pool.query("select 1");
  await s3.send(new HeadBucketCommand({ Bucket: process.env.S3_BUCKET_NAME }));
  res.json({ ok: true, db: !!db, secrets: !!secrets, dynamo: !!dynamo, cognito: !!cognito, stripe: !!stripe, openai: !!openai, legacy: !!legacy, sharp: typeof sharp });
});
if (process.env.NODE_ENV !== "production") {
  const { createServer } = await import("vite");
  app.use((await createServer({ server: { middlewareMode: true } })).middlewares);
} else {
  app.use(express.static(path.join(__dirname, "public")));
}
app.listen(env.PORT);
'''

INDEX = b'''<!doctype html>
<html lang="en">
<head>
<meta charset="UTF-8">
<link rel="icon" type="image/svg+xml" href="/favicon.svg">
<script type="module" crossorigin src="/assets/index-B7d2kq1x.js"></script>
<link rel="stylesheet" crossorigin href="/assets/index-Cq3v9LmA.css">
</head>
<body><div id="root"></div></body>
</html>
'''
CSS = b'@font-face{font-family:Inter;src:url(/assets/inter-latin-400.woff2) format("woff2")}body{margin:0;font-family:Inter,system-ui}\n'


def info(name, size=0, mode=0o644, kind=tarfile.REGTYPE, link=""):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.type, ti.linkname = size, mode, kind, link
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = 1700000000, 0, 0, "", ""
    return ti


def layer(add):
    raw = io.BytesIO()
    tf = tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT)
    add(tf)
    tf.close()
    return raw.getvalue()


def put(tf, name, data, mode=0o644):
    tf.addfile(info(name, len(data), mode), io.BytesIO(data))


def tree(tf, host, at):
    """HOST below AT, sorted, symlinks kept (npm's .bin links)."""
    for root, dirs, files in os.walk(host):
        dirs.sort()
        rel = os.path.relpath(root, host)
        base = at if rel == "." else f"{at}/{rel}"
        tf.addfile(info(base, 0, 0o755, tarfile.DIRTYPE))
        for f in sorted(files):
            p = os.path.join(root, f)
            if os.path.islink(p):
                tf.addfile(info(f"{base}/{f}", 0, 0o777, tarfile.SYMTYPE, os.readlink(p)))
            else:
                with open(p, "rb") as fh:
                    data = fh.read()
                put(tf, f"{base}/{f}", data, 0o755 if os.access(p, os.X_OK) else 0o644)
        for d in dirs:
            p = os.path.join(root, d)
            if os.path.islink(p):
                tf.addfile(info(f"{base}/{d}", 0, 0o777, tarfile.SYMTYPE, os.readlink(p)))
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]


def main():
    app, out = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)

    def base(tf):
        for d in ["etc", "bin", "usr", "usr/local", "usr/local/bin"]:
            tf.addfile(info(d, 0, 0o755, tarfile.DIRTYPE))
        put(tf, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n")
        put(tf, "bin/sh", b"#!fake-shell\n", 0o755)
        put(tf, "usr/local/bin/node", bytes(range(256)) * 4096, 0o755)

    def deps(tf):
        tf.addfile(info("app", 0, 0o755, tarfile.DIRTYPE))
        with open(os.path.join(app, "package.json"), "rb") as fh:
            put(tf, "app/package.json", fh.read())
        tree(tf, os.path.join(app, "node_modules"), "app/node_modules")

    def dist(tf):
        for d in ["app/dist", "app/dist/public", "app/dist/public/assets"]:
            tf.addfile(info(d, 0, 0o755, tarfile.DIRTYPE))
        put(tf, "app/dist/index.js", BUNDLE)
        put(tf, "app/dist/public/index.html", INDEX)
        put(tf, "app/dist/public/favicon.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>")
        put(tf, "app/dist/public/assets/index-B7d2kq1x.js", b"console.log('app');\n" * 20000)
        put(tf, "app/dist/public/assets/index-Cq3v9LmA.css", CSS)
        put(tf, "app/dist/public/assets/inter-latin-400.woff2", bytes(48000))

    layers, diff_ids = [], []
    for add in (base, deps, dist):
        tar = layer(add)
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        blob = gzip.compress(tar, compresslevel=6, mtime=0)
        d = hashlib.sha256(blob).hexdigest()
        with open(os.path.join(out, "blobs", "sha256", d), "wb") as fh:
            fh.write(blob)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + d, "size": len(blob)})
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"User": "node", "WorkingDir": "/app", "Cmd": ["node", "dist/index.js"],
                   "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NODE_ENV=production", "NODE_VERSION=20.19.0"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
        "layers": layers,
    }).encode()
    for b in (config, manifest):
        with open(os.path.join(out, "blobs", "sha256", hashlib.sha256(b).hexdigest()), "wb") as fh:
            fh.write(b)
    with open(os.path.join(out, "oci-layout"), "w") as fh:
        json.dump({"imageLayoutVersion": "1.0.0"}, fh)
    with open(os.path.join(out, "index.json"), "w") as fh:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(), "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}, fh)


if __name__ == "__main__":
    main()
