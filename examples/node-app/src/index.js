// A small real API: `/api/health` answers 200 only when PostgreSQL answers a query
// and the S3 bucket exists, which is what a load balancer's health check should
// ask. The container starts it through preflight (see Dockerfile), so a broken
// environment is reported before this file runs at all.
import express from "express";
import pg from "pg";
import { S3Client, HeadBucketCommand } from "@aws-sdk/client-s3";

const port = Number(process.env.PORT ?? 3000);
// Containers listen on every interface; a test on the host's network sets 127.0.0.1.
const host = process.env.HOST ?? "0.0.0.0";
const bucket = process.env.S3_BUCKET_NAME;

// node-postgres reads `sslmode=verify-full` and `sslrootcert` from the URL, as
// preflight checked them.
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: 2,
  connectionTimeoutMillis: 5000,
});
pool.on("error", (err) => console.error(`postgres pool: ${err.message}`));

// An endpoint override (moto, LocalStack, a VPC endpoint by URL) has no
// per-bucket host names: address buckets by path there.
const s3 = new S3Client({
  forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL || process.env.AWS_ENDPOINT_URL_S3),
});

async function probe(fn) {
  const started = Date.now();
  try {
    await fn();
    return { status: "up", ms: Date.now() - started };
  } catch (err) {
    return { status: "down", error: err.name || "Error", ms: Date.now() - started };
  }
}

const app = express();
app.disable("x-powered-by");

app.get("/api/health", async (_req, res) => {
  const [postgres, storage] = await Promise.all([
    probe(() => pool.query("SELECT 1")),
    probe(() => s3.send(new HeadBucketCommand({ Bucket: bucket }))),
  ]);
  const up = postgres.status === "up" && storage.status === "up";
  res.status(up ? 200 : 503).json({
    status: up ? "ok" : "degraded",
    pid: process.pid,
    checks: { postgres, s3: storage },
  });
});

const server = app.listen(port, host, () => {
  console.log(`listening on ${host}:${port} pid=${process.pid}`);
});

// preflight exec'd this process, so it is the one `docker stop` signals.
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    server.close();
    pool.end().finally(() => process.exit(0));
  });
}
