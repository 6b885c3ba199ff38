#!/usr/bin/env bash
# fetch-chdb.sh: put libchdb.so (ClickHouse built as a library, from the npm
# package @chdb/lib-linux-x64-gnu) into the per-user cache where
# embedded/clickhouse.LibPath looks for it. Idempotent; verifies sha256.
#
# Usage: scripts/fetch-chdb.sh        # prints the path of the verified library
# Env:   XDG_CACHE_HOME (default ~/.cache)
#        HEDGELINE_CLICKHOUSE_LIB: if set, nothing is fetched: it must name an
#        existing file (not hash-checked, like lib.go: a deliberate override).
#
# Keep VERSION and SHA256 in sync with embedded/clickhouse/lib.go.
set -euo pipefail

VERSION="26.7.3-stable.1"
PKG="@chdb/lib-linux-x64-gnu@${VERSION}"
SHA256="36ad4e999882821ef13cf2d0f52c93f48e6ee1b4498b35a201c23ce4b8d15bf5"

die() { echo "fetch-chdb: $*" >&2; exit 1; }

size_mtime() { stat -c '%s %Y' "$1"; }

# The marker lets LibPath skip rehashing 566 MB on every start. Format (one
# line): "<sha256> <size> <mtime unix seconds>"; same as lib.go writes.
write_marker() { echo "${SHA256} $(size_mtime "$1")" > "$1.sha256-ok"; }

verify() { # verify FILE: true if sha256 matches (marker fast path first)
	local f="$1"
	[ -f "$f" ] || return 1
	if [ -f "$f.sha256-ok" ] && [ "$(cat "$f.sha256-ok")" = "${SHA256} $(size_mtime "$f")" ]; then
		return 0
	fi
	local got
	got="$(sha256sum "$f" | cut -d' ' -f1)"
	[ "$got" = "$SHA256" ]
}

if [ -n "${HEDGELINE_CLICKHOUSE_LIB:-}" ]; then
	[ -f "$HEDGELINE_CLICKHOUSE_LIB" ] || die "HEDGELINE_CLICKHOUSE_LIB=$HEDGELINE_CLICKHOUSE_LIB does not exist"
	echo "$HEDGELINE_CLICKHOUSE_LIB"
	exit 0
fi

[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || die "only linux x86-64 is supported (got $(uname -s)-$(uname -m))"

CACHE="${XDG_CACHE_HOME:-${HOME:?HOME unset}/.cache}/hedgeline/chdb/${VERSION}"
LIB="${CACHE}/libchdb.so"

if verify "$LIB"; then
	write_marker "$LIB"
	echo "$LIB"
	exit 0
fi

mkdir -p "$CACHE"
# Same lock file as lib.go: concurrent fetchers wait, then find it present.
if command -v flock >/dev/null; then
	exec 9>"$CACHE/.lock"
	flock 9
	if verify "$LIB"; then
		write_marker "$LIB"
		echo "$LIB"
		exit 0
	fi
fi

# Temp dir inside the cache dir so the final mv is an atomic rename.
TMP="$(mktemp -d "${CACHE}/.fetch.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

echo "fetch-chdb: downloading ${PKG} (177 MB, once) into ${CACHE}" >&2
# curl first, for its progress (a bar on a terminal, a line every 5 s
# otherwise); npm pack (no progress) when curl is missing or fails.
REGISTRY="${npm_config_registry:-$(npm config get registry 2>/dev/null || true)}"
case "$REGISTRY" in http*) ;; *) REGISTRY="https://registry.npmjs.org" ;; esac
URL="${REGISTRY%/}/@chdb/lib-linux-x64-gnu/-/lib-linux-x64-gnu-${VERSION}.tgz"
fetched=""
if command -v curl >/dev/null; then
	if [ -t 2 ]; then
		curl -fL --progress-bar -o "$TMP/pkg.tgz" "$URL" && fetched=1
	else
		curl -fsSL -o "$TMP/pkg.tgz" "$URL" & pid=$!
		while kill -0 "$pid" 2>/dev/null; do
			sleep 5
			kill -0 "$pid" 2>/dev/null && echo "fetch-chdb: $(( $(stat -c %s "$TMP/pkg.tgz" 2>/dev/null || echo 0) / 1000000 )) of ~177 MB" >&2
		done
		wait "$pid" && fetched=1
	fi
	[ -n "$fetched" ] || { rm -f "$TMP/pkg.tgz"; echo "fetch-chdb: curl $URL failed; trying npm pack" >&2; }
fi
if [ -z "$fetched" ]; then
	command -v npm >/dev/null || die "neither curl nor npm could fetch ${PKG}; install npm (Debian: apt-get install npm) or set HEDGELINE_CLICKHOUSE_LIB to an existing libchdb.so (sha256 $SHA256)"
	if ! (cd "$TMP" && npm pack --silent "$PKG" >"$TMP/pack.out" 2>"$TMP/pack.err"); then
		cat "$TMP/pack.err" >&2
		die "npm pack ${PKG} failed: is the npm registry reachable (npm config: registry, proxy)? Or set HEDGELINE_CLICKHOUSE_LIB=/path/to/libchdb.so, an existing copy from that package (sha256 $SHA256)."
	fi
fi
TGZ="$(ls "$TMP"/*.tgz 2>/dev/null | head -n1)"
[ -n "$TGZ" ] || die "npm pack produced no tarball"
tar -xzf "$TGZ" -C "$TMP" package/libchdb.so || die "tarball has no package/libchdb.so"
got="$(sha256sum "$TMP/package/libchdb.so" | cut -d' ' -f1)"
[ "$got" = "$SHA256" ] || die "sha256 mismatch for libchdb.so: got $got, want $SHA256"
chmod 0755 "$TMP/package/libchdb.so"
# npm tarballs carry a fixed 1985 mtime; give the file a real one so the
# size+mtime marker means something.
touch "$TMP/package/libchdb.so"
mv -f "$TMP/package/libchdb.so" "$LIB"
write_marker "$LIB"
echo "$LIB"
