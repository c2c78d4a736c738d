#!/usr/bin/env python3
"""Writes an OCI image layout whose one gzip layer holds N empty files (default
2,000,000) under `usr/share/p<k>/`, for measuring the flattened tree's memory.

With `--through-symlink`, a first layer makes `usr/share` a symlink to
`/opt/share` and the big layer writes through it: the worst case for memory,
since image-check then builds the overlay runtimes' reading beside umoci's and
remembers where each of the N entries was redirected.

Headers are packed by hand: tarfile takes minutes for millions of members.
"""
import argparse, gzip, hashlib, json, os

def header(name, typeflag=b"0", mode=0o644):
    h = bytearray(512)
    n = name.encode()
    h[0:len(n)] = n
    h[100:108] = b"%07o\0" % mode
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"00000000000\0"
    h[136:148] = b"14524636400\0"
    h[148:156] = b"        "
    h[156:157] = typeflag
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    s = sum(h)
    h[148:156] = b"%06o\0 " % s
    return bytes(h)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--entries", type=int, default=2_000_000)
    ap.add_argument("--per-dir", type=int, default=1000)
    ap.add_argument("--through-symlink", action="store_true")
    ap.add_argument("--pad", type=int, default=0, help="longer file names by this many bytes")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "blobs", "sha256"), exist_ok=True)

    def layer(write):
        tmp = os.path.join(a.out, "layer.tmp")
        raw = hashlib.sha256()
        with gzip.GzipFile(tmp, "wb", compresslevel=1, mtime=0) as gz:
            def put(b):
                raw.update(b)
                gz.write(b)
            write(put)
            put(b"\0" * 1024)
        blob = open(tmp, "rb").read()
        d = hashlib.sha256(blob).hexdigest()
        os.replace(tmp, os.path.join(a.out, "blobs", "sha256", d))
        return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": "sha256:" + d, "size": len(blob)}, "sha256:" + raw.hexdigest()

    def base(put):
        put(header("opt/", b"5", 0o755))
        put(header("opt/share/", b"5", 0o755))
        put(header("usr/", b"5", 0o755))
        h = bytearray(header("usr/share", b"2", 0o777))
        h[157:157 + len(b"/opt/share")] = b"/opt/share"
        h[148:156] = b"        "
        h[148:156] = b"%06o\0 " % sum(h)
        put(bytes(h))

    def wide(put):
        if not a.through_symlink:
            put(header("usr/", b"5", 0o755))
            put(header("usr/share/", b"5", 0o755))
        for i in range(a.entries):
            if i % a.per_dir == 0:
                put(header(f"usr/share/p{i // a.per_dir}/", b"5", 0o755))
            put(header(f"usr/share/p{i // a.per_dir}/file-{'x' * a.pad}{i}.txt"))

    layers = [layer(base)] if a.through_symlink else []
    layers.append(layer(wide))
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": [diff for _, diff in layers]},
    }).encode()
    cd = hashlib.sha256(config).hexdigest()
    open(os.path.join(a.out, "blobs", "sha256", cd), "wb").write(config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": len(config)},
        "layers": [desc for desc, _ in layers],
    }).encode()
    md = hashlib.sha256(manifest).hexdigest()
    open(os.path.join(a.out, "blobs", "sha256", md), "wb").write(manifest)
    json.dump({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + md,
        "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "wide"}}]},
        open(os.path.join(a.out, "index.json"), "w"))
    open(os.path.join(a.out, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')

main()
