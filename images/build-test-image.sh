#!/usr/bin/env bash
# Builds the garm-rs runner test image (garm-rs/runner-test:latest) without
# pulling anything: its root filesystem is assembled from this host's own
# binaries (bash, curl, tar, gzip, coreutils, grep, sed, findutils, procps,
# util-linux's setsid, CA certificates) and every shared library ldd reports
# for them, then imported with `docker import`.
#
# The image holds what garm's install script needs, an /etc/os-release, and a
# `runner` user (uid 1001) whose home /home/runner is the image's working
# directory; containers run as that user by default.
#
# Usage: images/build-test-image.sh [--force] [--tag IMAGE] [BINARY...]
#   BINARY   extra executables (for example target/debug/garm-fake-runner),
#            copied to /usr/local/bin/<name> with their shared libraries.
#   --force  rebuild even when an up-to-date image exists.
#   --tag    image name (default garm-rs/runner-test:latest).
#
# The script is idempotent: when the image exists and was built from the same
# script and the same extra binaries, it exits at once.

set -euo pipefail

TAG=garm-rs/runner-test:latest
FORCE=0
EXTRA_BINARIES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --force) FORCE=1 ;;
        --tag)
            shift
            TAG="${1:?--tag needs a value}"
            ;;
        -h | --help)
            sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        -*)
            echo "unknown option $1" >&2
            exit 2
            ;;
        *) EXTRA_BINARIES+=("$1") ;;
    esac
    shift
done

log() {
    echo "build-test-image: $*" >&2
}

command -v docker >/dev/null 2>&1 || {
    log "the docker CLI is required"
    exit 1
}
docker version >/dev/null 2>&1 || {
    log "no Docker engine answers (is the daemon running, and may this user use its socket?)"
    exit 1
}

# What the image is built from: this script, and the extra binaries.
FINGERPRINT=$(
    {
        sha256sum "$0" | cut -d' ' -f1
        for binary in "${EXTRA_BINARIES[@]}"; do
            sha256sum "$binary" | cut -d' ' -f1
        done
    } | sha256sum | cut -d' ' -f1
)
FINGERPRINT_LABEL=garm-rs.test-image.fingerprint

if [ "$FORCE" -eq 0 ]; then
    EXISTING=$(docker image inspect --format "{{ index .Config.Labels \"$FINGERPRINT_LABEL\" }}" "$TAG" 2>/dev/null || true)
    if [ "$EXISTING" = "$FINGERPRINT" ]; then
        log "$TAG is up to date"
        exit 0
    fi
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/garm-runner-test-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"
mkdir -p "$ROOTFS"

# Mirror the host's merged-/usr symlinks (bin -> usr/bin, ...), so library and
# binary paths resolve as they do on the host.
for dir in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$dir" ]; then
        target=$(readlink "/$dir")
        mkdir -p "$ROOTFS/$(dirname "$dir")/$target"
        ln -s "$target" "$ROOTFS/$dir"
    fi
done

# add_file PATH [DEST]: copies a host file (following symlinks) into the rootfs.
add_file() {
    local source="$1" dest="${2:-$1}"
    mkdir -p "$ROOTFS$(dirname "$dest")"
    cp -L "$source" "$ROOTFS$dest"
}

# add_libraries PATH: copies the shared libraries and the loader PATH needs.
add_libraries() {
    local lib
    # ldd prints "name => /path (addr)" for libraries and "/path (addr)" for the loader.
    for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true); do
        if [ -e "$lib" ] && [ ! -e "$ROOTFS$lib" ]; then
            add_file "$lib"
        fi
    done
}

# add_binary NAME: copies an executable (a file on PATH, not a shell builtin) and
# its libraries to the same path as on the host.
add_binary() {
    local found path
    found=$(type -P "$1" || true)
    if [ -z "$found" ]; then
        return 1
    fi
    path=$(readlink -f "$found")
    add_file "$path" "$found" || return 1
    add_libraries "$path"
}

REQUIRED=(bash curl tar gzip cat cp mv rm mkdir mktemp chmod chown ln ls dirname basename head tail tr cut
    sort uniq wc tee touch id sleep env printf date install readlink realpath grep sed setsid nohup
    kill true false sha256sum)
OPTIONAL=(find xargs ps pgrep pkill hostname getent unzip jq timeout stat df uname whoami which
    expr seq du zcat gunzip rmdir)

for tool in "${REQUIRED[@]}"; do
    add_binary "$tool" || {
        log "required tool $tool is not installed on this host"
        exit 1
    }
done
missing=()
for tool in "${OPTIONAL[@]}"; do
    add_binary "$tool" || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "optional tools not on this host, left out: ${missing[*]}"
fi
BASH_PATH=$(command -v bash)
if [ ! -e "$ROOTFS/bin/bash" ]; then
    ln -s "$BASH_PATH" "$ROOTFS/bin/bash"
fi
[ -e "$ROOTFS/bin/sh" ] || ln -s bash "$ROOTFS/bin/sh"

# The Rust runtime's libraries, so any binary built on this host (the simulated
# runner, mounted from the host) runs in the image.
for lib in libgcc_s.so.1 libm.so.6 libc.so.6 libpthread.so.0 libdl.so.2 librt.so.1; do
    path=$(ldconfig -p 2>/dev/null | awk -v lib="$lib" '$1 == lib && $NF ~ /^\// { print $NF; exit }')
    if [ -n "$path" ] && [ ! -e "$ROOTFS$path" ]; then
        add_file "$path"
    fi
done

for binary in "${EXTRA_BINARIES[@]}"; do
    path=$(readlink -f "$binary")
    add_file "$path" "/usr/local/bin/$(basename "$binary")"
    add_libraries "$path"
done

# The loader's cache maps library names to the paths copied above.
if [ -f /etc/ld.so.cache ]; then
    add_file /etc/ld.so.cache
fi
for certs in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
    if [ -f "$certs" ]; then
        add_file "$certs"
        break
    fi
done

mkdir -p "$ROOTFS"/{etc,tmp,var/tmp,root,home/runner,dev,proc,sys,run,usr/local/bin}
chmod 1777 "$ROOTFS/tmp" "$ROOTFS/var/tmp"
chmod 0700 "$ROOTFS/root"
chmod 0755 "$ROOTFS/home/runner"

cat >"$ROOTFS/etc/os-release" <<'EOF'
NAME="garm-rs runner test image"
ID=garm-runner-test
VERSION_ID="1"
PRETTY_NAME="garm-rs runner test image 1"
EOF
cat >"$ROOTFS/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/bash
runner:x:1001:1001:runner:/home/runner:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$ROOTFS/etc/group" <<'EOF'
root:x:0:
runner:x:1001:
nogroup:x:65534:
EOF
cat >"$ROOTFS/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
shadow: files
hosts: files dns
EOF
printf '127.0.0.1 localhost\n::1 localhost\n' >"$ROOTFS/etc/hosts"

# Everything belongs to root, except the runner's home.
TARBALL="$WORK/rootfs.tar"
tar -C "$ROOTFS" --numeric-owner --owner=0 --group=0 --exclude=./home/runner -cf "$TARBALL" .
tar -C "$ROOTFS" --numeric-owner --owner=1001 --group=1001 -rf "$TARBALL" ./home/runner

log "importing $(du -h "$TARBALL" | cut -f1) root filesystem as $TAG"
docker import \
    --change "LABEL $FINGERPRINT_LABEL=$FINGERPRINT" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'USER runner' \
    --change 'WORKDIR /home/runner' \
    --change 'CMD ["/bin/bash"]' \
    "$TARBALL" "$TAG" >/dev/null

# A smoke test: the install script's tools run in the image.
docker run --rm --network none "$TAG" bash -c \
    'set -e; . /etc/os-release; id -un; curl --version >/dev/null; tar --version >/dev/null; gzip --version >/dev/null; sed --version >/dev/null; grep --version >/dev/null; setsid --version >/dev/null; test -w "$HOME"' >/dev/null
log "built $TAG"
