#!/usr/bin/env python3
"""Writes a synthetic multi-layer gzip OCI image layout for benchmarks.

Layers hold a mix of text-like files (compress ~4x, like JS bundles and
node_modules) and random bytes (incompressible, like native binaries), so
decompression and hashing cost what they cost on real images.
"""
import argparse, gzip, hashlib, io, json, os, random, tarfile

def parse_size(s):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(s[:-1]) * units[s[-1].upper()]) if s[-1].upper() in units else int(s)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size", default="1G", help="total uncompressed size (e.g. 1G, 4G)")
    ap.add_argument("--layers", type=int, default=8)
    args = ap.parse_args()
    total = parse_size(args.size)
    rng = random.Random(42)
    words = [("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))) for _ in range(4000)]
    text = " ".join(rng.choice(words) for _ in range(300000)).encode()
    os.makedirs(os.path.join(args.out, "blobs", "sha256"), exist_ok=True)
    layers, diff_ids = [], []
    per_layer = total // args.layers
    for li in range(args.layers):
        raw = io.BytesIO()
        tf = tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT)
        written, fi = 0, 0
        while written < per_layer:
            size = min(rng.choice([4096, 16384, 65536, 262144, 1 << 20]), per_layer - written)
            if rng.random() < 0.7:
                off = rng.randrange(0, len(text) - size) if size < len(text) else 0
                data = text[off:off + size]
            else:
                data = rng.randbytes(size)
            ti = tarfile.TarInfo(f"app/layer{li}/d{fi // 100}/f{fi}.js")
            ti.size, ti.mtime, ti.mode = len(data), 1700000000, 0o644
            tf.addfile(ti, io.BytesIO(data))
            written += len(data)
            fi += 1
        tf.close()
        tar_bytes = raw.getvalue()
        diff_ids.append("sha256:" + hashlib.sha256(tar_bytes).hexdigest())
        blob = gzip.compress(tar_bytes, compresslevel=1, mtime=0)
        d = hashlib.sha256(blob).hexdigest()
        with open(os.path.join(args.out, "blobs", "sha256", d), "wb") as f:
            f.write(blob)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + d, "size": len(blob)})
        del raw, tar_bytes, blob
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["node", "app/layer0/d0/f0.js"], "Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
        "layers": layers,
    }).encode()
    for b in (config, manifest):
        with open(os.path.join(args.out, "blobs", "sha256", hashlib.sha256(b).hexdigest()), "wb") as f:
            f.write(b)
    with open(os.path.join(args.out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(), "size": len(manifest),
                   "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}, f)

if __name__ == "__main__":
    main()
