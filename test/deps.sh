#!/usr/bin/env bash
# Installs what building and testing feature_x needs on Debian, only when it
# is missing, so `make demo` / `make test` work on a fresh machine as root.
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
packages=(
	make gcc
	"postgresql-$PG_MAJOR"
	"postgresql-server-dev-$PG_MAJOR"
	"postgresql-$PG_MAJOR-pgtap"
	postgresql-common
	libtap-parser-sourcehandler-pgtap-perl
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "feature_x: missing packages: ${missing[*]}; install them (as root) and retry" >&2
	exit 1
fi
echo "feature_x: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
