# LuxTensor node image. Multi-stage: build with the official Rust image, run on Debian slim.
# Works with the legacy builder (Docker 20.10 without BuildKit): no RUN --mount, no heredocs.
# RocksDB comes from Debian (librocksdb-dev to build, librocksdb7.8 to run), so the image build
# never compiles RocksDB's C++.

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends librocksdb-dev libclang-dev clang \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependency layer: manifests, the lock file, and the proto crate (which changes rarely), built
# with placeholder sources, so a source edit does not recompile the dependencies.
COPY Cargo.toml Cargo.lock ./
COPY proto proto
COPY testkit/Cargo.toml testkit/
COPY node/Cargo.toml node/
COPY bench/Cargo.toml bench/
COPY testnet/Cargo.toml testnet/
COPY e2e/Cargo.toml e2e/
RUN mkdir -p node/src testkit/src bench/src testnet/src e2e/src \
 && echo 'fn main() {}' > node/src/main.rs \
 && echo '//! placeholder' > node/src/lib.rs \
 && echo '//! placeholder' > testkit/src/lib.rs \
 && echo 'fn main() {}' > bench/src/main.rs \
 && echo 'fn main() {}' > testnet/src/main.rs \
 && echo '//! placeholder' > testnet/src/lib.rs \
 && echo '//! placeholder' > e2e/src/lib.rs \
 && ROCKSDB_LIB_DIR=/usr/lib/$(gcc -print-multiarch) cargo build --release --locked -p luxtensor-node \
 && rm -rf node/src testkit/src

# The real sources.
COPY testkit testkit
COPY node node
RUN touch node/src/main.rs node/src/lib.rs testkit/src/lib.rs \
 && ROCKSDB_LIB_DIR=/usr/lib/$(gcc -print-multiarch) cargo build --release --locked -p luxtensor-node --bin luxtensor \
 && cp target/release/luxtensor /usr/local/bin/luxtensor

FROM debian:bookworm-slim
# OCI annotations. VERSION, REVISION (the git commit) and SOURCE (where the code comes from) are
# build arguments: `docker build --build-arg REVISION=$(git rev-parse HEAD) …`; the compose file
# and CI pass them.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="luxtensor-node" \
      org.opencontainers.image.description="LuxTensor blockchain node and testnet tools" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN apt-get update \
 && apt-get install -y --no-install-recommends librocksdb7.8 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 luxtensor \
 && useradd --system --uid 10001 --gid luxtensor --home-dir /var/lib/luxtensor --create-home luxtensor \
 && mkdir -p /var/lib/luxtensor/data \
 && chown -R luxtensor:luxtensor /var/lib/luxtensor
COPY --from=build /usr/local/bin/luxtensor /usr/local/bin/luxtensor
USER luxtensor
WORKDIR /var/lib/luxtensor
VOLUME ["/var/lib/luxtensor/data"]
# Prometheus metrics on 9100 inside every container (the compose testnet publishes them on
# 127.0.0.1:9101-9103; unset LUXTENSOR_METRICS_LISTEN to turn them off).
ENV LUXTENSOR_DATA_DIR=/var/lib/luxtensor/data \
    LUXTENSOR_LISTEN=0.0.0.0:50051 \
    LUXTENSOR_METRICS_LISTEN=0.0.0.0:9100 \
    LUXTENSOR_NODE=http://127.0.0.1:50051
EXPOSE 50051 9100
HEALTHCHECK --interval=2s --timeout=3s --start-period=10s --retries=15 CMD ["luxtensor", "health"]
ENTRYPOINT ["luxtensor"]
CMD ["--help"]
