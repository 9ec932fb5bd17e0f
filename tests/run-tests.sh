#!/usr/bin/env bash
# `npm test`: make sure the Debian peers the tests use are present (install them when root, else say
# exactly what to install), build, then run jest. Prints a closing `N passed, N failed` line.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=(memcached libmemcached-tools python3-pymemcache openssl)
missing=()
command -v memcached >/dev/null 2>&1 || missing+=(memcached)
command -v memccapable >/dev/null 2>&1 || missing+=(libmemcached-tools)
/usr/bin/python3 -c 'import pymemcache' >/dev/null 2>&1 || missing+=(python3-pymemcache)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "npm test: installing Debian packages the tests use: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null
  else
    echo "npm test: missing Debian packages. Run: sudo apt-get install -y ${need_pkgs[*]}" >&2
    exit 1
  fi
fi

npm run --silent build
results=$(mktemp /tmp/mucached-jest-XXXXXX.json)
set +e
npx jest --json --outputFile="$results" "$@"
status=$?
set -e
node -e '
  const r = require(process.argv[1]);
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed`);
' "$results" 2>/dev/null || echo "0 passed, 1 failed"
rm -f "$results"
exit $status
