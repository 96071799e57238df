#!/bin/bash
# Built-in runner install bootstrap of garm-provider-docker, used when the pool's
# extra specs carry no runner_install_template. Like garm's install wrapper it
# fetches the install script from garm's metadata service with the instance
# token and runs it; a failure to fetch is reported to garm as a failed status.

set -o pipefail

# GARM_METADATA_URL, GARM_CALLBACK_URL and GARM_INSTANCE_TOKEN.
# shellcheck source=/dev/null
. /garm/instance.env

METADATA_URL="${GARM_METADATA_URL%/}"
CALLBACK_URL="${GARM_CALLBACK_URL%/}"
case "$CALLBACK_URL" in
    */status) STATUS_URL="$CALLBACK_URL" ;;
    *) STATUS_URL="$CALLBACK_URL/status" ;;
esac

report_failure() {
    echo "garm-bootstrap: $1" >&2
    curl --silent --show-error --fail --retry 5 --retry-connrefused --retry-delay 5 --connect-timeout 20 \
        -X POST \
        -H "Content-Type: application/json" \
        -H "Authorization: Bearer $GARM_INSTANCE_TOKEN" \
        --data-binary "{\"status\":\"failed\",\"message\":\"$1\"}" \
        -o /dev/null "$STATUS_URL" ||
        echo "garm-bootstrap: could not report the failure to garm" >&2
}

SCRIPT_FILE=$(mktemp "${TMPDIR:-/tmp}/garm-install-script.XXXXXX") || exit 1
trap 'rm -f "$SCRIPT_FILE"' EXIT

if ! curl --silent --show-error --fail --location --retry 5 --retry-connrefused --retry-delay 5 --connect-timeout 20 \
    -H "Authorization: Bearer $GARM_INSTANCE_TOKEN" \
    -o "$SCRIPT_FILE" "$METADATA_URL/install-script/"; then
    report_failure "failed to fetch the install script from the metadata service"
    exit 1
fi

bash "$SCRIPT_FILE"
