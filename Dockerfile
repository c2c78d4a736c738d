# shipcheck's image: static image-check and preflight in a `scratch` stage, with
# a CA bundle so TLS to ECR, registries and S3 verifies. App images take
# preflight from it (examples/node-app/Dockerfile is a whole one):
#   FROM shipcheck:latest AS shipcheck
#   ...
#   COPY --from=shipcheck /usr/local/bin/preflight /usr/local/bin/preflight
#   ENTRYPOINT ["/usr/local/bin/preflight", "--"]
#   CMD ["node", "dist/index.js"]
# image-check itself runs from this image in CI:
#   docker run --rm -v "$PWD:/w" -w /w shipcheck docker-archive:img.tar
#
# Two ways to fill it, chosen with SHIPCHECK_FROM (stages not chosen are skipped):
#   docker build --target shipcheck -t shipcheck .
#       `build`: compiles static musl binaries in a Rust image (pulls rust:1.95-bookworm)
#   docker build --target shipcheck --build-arg SHIPCHECK_FROM=prebuilt -t shipcheck .
#       `prebuilt`: takes prebuilt/image-check, prebuilt/preflight and
#       prebuilt/ca-certificates.crt from the build context (binaries built
#       outside Docker, as CI does; README, "Building the binaries for images")
ARG SHIPCHECK_FROM=build

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --features vendored-openssl \
 && mkdir -p /out/bin /out/certs \
 && cp target/x86_64-unknown-linux-musl/release/image-check target/x86_64-unknown-linux-musl/release/preflight /out/bin/ \
 && cp /etc/ssl/certs/ca-certificates.crt /out/certs/

FROM scratch AS prebuilt
COPY prebuilt/image-check prebuilt/preflight /out/bin/
COPY prebuilt/ca-certificates.crt /out/certs/

FROM ${SHIPCHECK_FROM} AS binaries

FROM scratch AS shipcheck
COPY --from=binaries --chmod=0555 /out/bin/ /usr/local/bin/
# Where rustls-native-certs and OpenSSL look on Debian-family systems; preflight
# run from this image (or an app image without `ca-certificates`) can point
# SSL_CERT_FILE here.
COPY --from=binaries --chmod=0444 /out/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/usr/local/bin/image-check"]
