#!/bin/sh
# Publishes a JSON merge patch to a Lifeline channel through the server API of `lifeline serve` (POST /api/publish),
# as an application's backend would, in any language: this is the whole protocol.
#
# Usage:
#   LIFELINE_API_KEY=... [LIFELINE_URL=http://127.0.0.1:8080] publish.sh CHANNEL PATCH_JSON [IDEMPOTENCY_KEY]
#   LIFELINE_API_KEY_FILE=keys.txt ... (the first key of the file instead of LIFELINE_API_KEY)
#
# Example:
#   LIFELINE_API_KEY=s3cret samples/backend/publish.sh room:lobby '{"title":"hello from the backend"}'
#   -> {"epoch":"...","offset":1,"duplicate":false}
#
# Exit status: 0 when published (the answer is printed); 22 when the server refused it (the RFC 9457 problem document
# is printed: 400 bad body, 401 wrong key, 409 conflict, 413 too large...); another curl code when it cannot connect.
set -eu

usage() {
    echo "usage: LIFELINE_API_KEY=KEY [LIFELINE_URL=URL] $0 CHANNEL PATCH_JSON [IDEMPOTENCY_KEY]" >&2
    exit 2
}

[ $# -ge 2 ] && [ $# -le 3 ] || usage
url="${LIFELINE_URL:-http://127.0.0.1:8080}"
if [ -z "${LIFELINE_API_KEY:-}" ] && [ -n "${LIFELINE_API_KEY_FILE:-}" ]; then
    # The first non-blank line, trimmed (the format of --api-key-file).
    LIFELINE_API_KEY=$(grep -v '^[[:space:]]*$' "$LIFELINE_API_KEY_FILE" | head -n 1 | tr -d '[:space:]')
fi
[ -n "${LIFELINE_API_KEY:-}" ] || { echo "$0: set LIFELINE_API_KEY (or LIFELINE_API_KEY_FILE): a key of lifeline serve --api-key-file" >&2; exit 2; }

# A JSON string: escape backslashes and double quotes (the server refuses channel names outside its character set).
json_string() {
    printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

body="{\"channel\":$(json_string "$1"),\"patch\":$2"
if [ $# -eq 3 ]; then
    body="$body,\"key\":$(json_string "$3")"
fi
body="$body}"

# The key goes to curl through its configuration on stdin, not on the command line (where `ps` would show it).
printf 'header = "Authorization: Bearer %s"\n' "$LIFELINE_API_KEY" |
    curl --config - --silent --show-error --fail-with-body \
        --header 'Content-Type: application/json' \
        --data-binary "$body" \
        "$url/api/publish"
echo
