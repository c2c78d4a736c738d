# Static image-check and preflight binaries in a scratch stage. App images take
# preflight from it:
#   FROM shipcheck AS shipcheck
#   ...
#   COPY --from=shipcheck /usr/local/bin/preflight /usr/local/bin/preflight
#   ENTRYPOINT ["/usr/local/bin/preflight", "--"]
#   CMD ["node", "dist/index.js"]
# image-check itself runs from this image in CI: docker run --rm -v "$PWD:/w" -w /w shipcheck docker-archive:img.tar
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --features vendored-openssl \
 && mkdir /out \
 && cp target/x86_64-unknown-linux-musl/release/image-check target/x86_64-unknown-linux-musl/release/preflight /out/

FROM scratch
COPY --from=build /out/ /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/image-check"]
