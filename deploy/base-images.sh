#!/usr/bin/env bash
# Makes local stand-ins for the Dockerfile's base images when the engine can neither find nor
# pull them (an air-gapped or registry-less engine):
#   debian:bookworm-slim  — debootstrap (minbase) from this host's own apt sources, docker import
#   rust:1.95-bookworm    — that image plus this host's Rust toolchain, build tools and CA certificates
# Nothing is done for an image that exists or can be pulled. No mirror host is written here: the
# Debian mirror is read from the host's apt configuration.
set -euo pipefail

DEBIAN_IMAGE=debian:bookworm-slim
RUST_IMAGE=rust:1.95-bookworm
SUITE=bookworm

log() { printf '[base-images] %s\n' "$*" >&2; }

have_or_pull() {
  local image=$1
  if docker image inspect "$image" >/dev/null 2>&1; then
    log "$image: present"
    return 0
  fi
  if timeout 60 docker pull "$image" >/dev/null 2>&1; then
    log "$image: pulled"
    return 0
  fi
  return 1
}

host_mirror() {
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i ~ /debian\/?$/) {print $i; exit}}' /etc/apt/sources.list.d/*.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || { log "cannot find a Debian mirror in the host's apt sources"; exit 1; }
  printf '%s\n' "${uri%/}"
}

make_debian() {
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  local mirror root
  mirror=$(host_mirror)
  root=$(mktemp -d)
  trap 'rm -rf "$root"' RETURN
  log "$DEBIAN_IMAGE: debootstrap --variant=minbase $SUITE from the host's mirror"
  debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >/dev/null
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["bash"]' - "$DEBIAN_IMAGE" >/dev/null
  log "$DEBIAN_IMAGE: imported"
}

make_rust() {
  local sysroot ctx
  sysroot=$(rustc --print sysroot)
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' RETURN
  log "$RUST_IMAGE: from $DEBIAN_IMAGE with the host toolchain $(rustc --version)"
  mkdir -p "$ctx/rust/lib" "$ctx/certs"
  cp -a "$sysroot/bin" "$ctx/rust/"
  cp -a "$sysroot/lib/librustc_driver"* "$sysroot/lib/libLLVM"* "$ctx/rust/lib/" 2>/dev/null || true
  mkdir -p "$ctx/rust/lib/rustlib"
  cp -a "$sysroot/lib/rustlib/"{components,etc,manifest-*,rust-installer-version,x86_64-unknown-linux-gnu} "$ctx/rust/lib/rustlib/" 2>/dev/null || true
  rm -rf "$ctx/rust/lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld" 2>/dev/null || true
  cp -a "$sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin" "$ctx/rust/lib/rustlib/x86_64-unknown-linux-gnu/" 2>/dev/null || true
  # Extra CA certificates the host trusts (a TLS-inspecting proxy, for example).
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$ctx/certs/"
  fi
  cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates build-essential pkg-config git \
 && rm -rf /var/lib/apt/lists/*
COPY certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
COPY rust/ /usr/local/
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /usr/local/cargo/bin && rustc --version && cargo --version
DOCKERFILE
  DOCKER_BUILDKIT=0 docker build -q -t "$RUST_IMAGE" "$ctx" >/dev/null
  log "$RUST_IMAGE: built"
}

have_or_pull "$DEBIAN_IMAGE" || make_debian
have_or_pull "$RUST_IMAGE" || make_rust
