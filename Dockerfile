# syntax=docker/dockerfile:1
# Multi-stage build: a Rust toolchain image compiles, a slim Debian image runs
# the one binary as an unprivileged user. Migrations run at start (`serve`
# applies pending ones first), or separately with `app migrate`.

# Cargo's manifests alone (the root's, its lock and each crate's under
# crates/), copied out so that the dependency layer below is rebuilt only
# when one of them changes, not on every edit of the app's sources.
FROM rust:1.95-slim-bookworm AS manifests
WORKDIR /build
COPY . .
RUN mkdir /manifests && cp --parents Cargo.toml Cargo.lock crates/*/Cargo.toml /manifests/

FROM rust:1.95-slim-bookworm AS build
WORKDIR /build

# Dependencies first, in a layer of their own, built with placeholder
# sources for every target the manifests declare.
COPY --from=manifests /manifests ./
RUN mkdir -p src tests benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && for crate in crates/*/; do mkdir -p "${crate}src" && touch "${crate}src/lib.rs" && echo 'fn main() {}' > "${crate}build.rs"; done \
    && echo 'fn main() {}' > tests/zz_backends.rs \
    && for bench in $(awk '/^\[\[bench\]\]/ { b = 1 } b && /^name = / { gsub(/"/, "", $3); print $3; b = 0 }' Cargo.toml); do echo 'fn main() {}' > "benches/$bench.rs"; done \
    && cargo build --release --locked \
    && rm -rf src tests benches crates

COPY . .
# The sources may be older than the placeholder build above: touch them so
# cargo rebuilds the app's crates.
RUN touch src/main.rs src/lib.rs crates/*/src/lib.rs crates/*/build.rs \
    && cargo build --release --locked \
    && cp target/release/saas-starter /build/app

FROM debian:bookworm-slim AS runtime
RUN useradd --system --uid 10001 --home-dir /app --create-home app \
    && mkdir -p /app/data && chown app:app /app/data
COPY --from=build /build/app /usr/local/bin/app
USER app
WORKDIR /app
ENV APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["app", "healthcheck"]
CMD ["app", "serve"]
