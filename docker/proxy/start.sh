#!/bin/sh
# The proxy service's command (docker-compose.yml, profile "proxy"): hash the passwords docker/.env
# gives (Caddy takes hashes only) and run Caddy with the Caddyfile next to this script.
set -eu

# The proxy never serves the UI without credentials: it stops unless both passwords are set.
for name in UI_OPERATOR_PASSWORD UI_VIEWER_PASSWORD; do
    if [ -z "$(printenv "$name" || true)" ]; then
        echo "proxy: $name is empty: set it in docker/.env (docs/operations.md)" >&2
        exit 1
    fi
done

# On stdin, not as an argument: arguments show in the process list.
hash_password() { printf '%s\n' "$1" | caddy hash-password; }

UI_OPERATOR_PASSWORD_HASH=$(hash_password "$UI_OPERATOR_PASSWORD")
UI_VIEWER_PASSWORD_HASH=$(hash_password "$UI_VIEWER_PASSWORD")
export UI_OPERATOR_PASSWORD_HASH UI_VIEWER_PASSWORD_HASH
unset UI_OPERATOR_PASSWORD UI_VIEWER_PASSWORD  # Caddy needs the hashes only
exec caddy run --config "$(dirname "$0")/Caddyfile" --adapter caddyfile
