# The garm-rs image: `docker build -t garm-azure .` (see docs/deploy-azure.md).
#
# Stage `build` compiles garm, garm-cli and the Azure and Docker providers; stage `runtime` is a
# slim Debian with those binaries and a few small scripts. garm runs as the non-root user `garm`
# (uid 10001): the image starts as root only so that the entry point can hand a volume mounted
# as root (an ACI emptyDir) to `garm`, and then drops to it with setpriv before anything else
# runs. No secret is baked in: the configuration is a mounted template whose `${GARM_*}`
# placeholders the entry point fills from environment variables at start.
#
# On a machine that is not x86-64 (Apple silicon), build for Azure with
# `docker build --platform linux/amd64 -t garm-azure .`.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY crates crates
COPY xtask xtask
# garm-attest's verifier (az-snp-vtpm) links the TPM2 software stack and OpenSSL.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libtss2-dev libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
# The cache mounts keep the registry and compiled dependencies between builds.
# garm is built on its own: its link order (crates/garm-server/link-order.txt) names symbols whose
# hashes depend on the dependency features cargo unifies over the packages of one build, and
# garm-cli's TLS features for tungstenite would rename most of them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p garm-server \
    && cargo build --release --locked \
        -p garm-cli -p garm-provider-azure -p garm-provider-docker -p garm-attest \
    && mkdir -p /out \
    && cp target/release/garm target/release/garm-cli \
        target/release/garm-provider-azure target/release/garm-provider-docker \
        target/release/garm-attest /out/

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG GARM_UID=10001
# ca-certificates: TLS to GitHub, Azure and Entra ID; curl: the health check; sqlite3: snapshots;
# libtss2-mu0 and libssl3: the attestation verifier in garm.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl sqlite3 libtss2-mu0 libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid "${GARM_UID}" garm \
    && useradd --system --uid "${GARM_UID}" --gid garm --home-dir /home/garm --create-home --shell /bin/bash garm \
    && install -d -o garm -g garm -m 0750 /etc/garm /var/lib/garm \
    && install -d -m 0755 /etc/garm/mounted /opt/garm/providers.d \
    && install -d -o garm -g garm -m 0700 /home/garm/.local /home/garm/.local/share \
    && install -d -o garm -g garm -m 0710 /home/garm/.local/share/garm-cli
COPY --from=build /out/garm /usr/local/bin/garm
COPY --from=build /out/garm-cli /usr/local/bin/garm-cli
# Served to attesting instances from /api/v1/metadata/tools/garm-attest (found next to garm).
COPY --from=build /out/garm-attest /usr/local/bin/garm-attest
COPY --from=build /out/garm-provider-azure /opt/garm/providers.d/garm-provider-azure
COPY --from=build /out/garm-provider-docker /opt/garm/providers.d/garm-provider-docker
COPY --chmod=0755 deploy/docker/garm-entrypoint deploy/docker/garm-snapshot deploy/docker/garm-healthcheck \
    deploy/docker/garm-shell /usr/local/bin/
# garm-cli's `local` profile points at this garm; `garm-cli profile login` stores a token here.
COPY --chown=garm:garm --chmod=0600 deploy/docker/garm-cli-profile.toml /home/garm/.local/share/garm-cli/config.toml

ENV HOME=/home/garm \
    GARM_CONFIG_TEMPLATE=/etc/garm/mounted/config.toml \
    GARM_CONFIG=/etc/garm/config.toml
# Root, for the entry point's first step only: it gives the data volume to `garm` and re-runs
# itself as `garm`; the snapshot sidecar (`garm-entrypoint --exec garm-snapshot`) and `garm-shell`
# go the same way. `docker run --user 10001:10001` starts as garm directly.
USER root
WORKDIR /home/garm
EXPOSE 9997
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["garm-healthcheck"]
ENTRYPOINT ["garm-entrypoint"]
