#!/bin/bash
# Container entry point written by garm-provider-docker into /garm on every create.
#
# Runs the pool's pre-install scripts and the runner install script as the
# container's user, then keeps the container running for as long as any process
# they started (the runner) is alive. The container exits with the install
# script's exit code once nothing is left.

set -u

log() {
    echo "garm-bootstrap: $*" >&2
}

# Whether a process other than this shell and PID 1 (the init) is alive; zombies
# do not count. Only builtins, so the check itself starts no process.
others_running() {
    local dir pid stat state
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        if [ "$pid" = 1 ] || [ "$pid" = "$$" ]; then
            continue
        fi
        { read -r stat <"$dir/stat"; } 2>/dev/null || continue
        state=${stat##*) }
        state=${state%% *}
        if [ "$state" != Z ] && [ "$state" != X ]; then
            return 0
        fi
    done
    return 1
}

# On `docker stop` (SIGTERM), pass the signal on to every process (the runner
# among them) and stop once they are gone; Docker kills what is left after its
# timeout.
# shellcheck disable=SC2317 # Invoked by the trap below.
terminate() {
    log "asked to stop: signalling every process in the container"
    kill -TERM -1 2>/dev/null
    while others_running; do
        sleep 1 &
        wait $! 2>/dev/null
    done
    exit 143
}
trap terminate TERM INT HUP

# The install script puts the runner in $HOME/actions-runner, so HOME must be a
# writable directory; a user without a home gets one under /tmp.
if [ -z "${HOME:-}" ] || [ "$HOME" = / ] || [ ! -d "$HOME" ] || [ ! -w "$HOME" ]; then
    HOME="/tmp/garm-home-${UID:-0}"
    export HOME
    mkdir -p "$HOME" || exit 1
fi
cd "$HOME" || exit 1

# The pool's proxy settings.
if [ -r /garm/proxy.env ]; then
    # shellcheck source=/dev/null
    . /garm/proxy.env
fi

# garm's CA bundle: trusted in addition to the system's, by curl and OpenSSL users.
if [ -s /garm/ca-bundle.pem ]; then
    bundle="$HOME/.garm-ca-bundle.pem"
    : >"$bundle"
    for system_bundle in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
        if [ -r "$system_bundle" ]; then
            cat "$system_bundle" >>"$bundle"
            break
        fi
    done
    cat /garm/ca-bundle.pem >>"$bundle"
    export SSL_CERT_FILE="$bundle" CURL_CA_BUNDLE="$bundle"
fi

for script in /garm/pre-install/*; do
    [ -f "$script" ] || continue
    log "running pre-install script ${script##*/}"
    if ! bash "$script"; then
        log "pre-install script ${script##*/} failed"
        exit 1
    fi
done

# In the background, so that a stop request is handled at once.
bash /garm/install.sh &
wait $!
status=$?
log "install script exited with code $status"


while others_running; do
    sleep 5 &
    wait $!
done
log "no process left; stopping the container"
exit "$status"
