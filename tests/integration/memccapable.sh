#!/bin/sh
# Run memcached's conformance tool against a server on 127.0.0.1:PORT.
# Usage: tests/integration/memccapable.sh PORT
# Exits 0 only if memccapable reports every test passed and none failed (54 in 1.6-era tools).
set -u
if [ $# -ne 1 ]; then echo "usage: $0 PORT" >&2; exit 2; fi
if ! command -v memccapable >/dev/null 2>&1; then
  echo "memccapable not found: apt-get install -y libmemcached-tools" >&2; exit 2
fi
out=$(timeout 120 memccapable -h 127.0.0.1 -p "$1" 2>&1)
rc=$?
printf '%s\n' "$out"
passed=$(printf '%s\n' "$out" | grep -c '\[pass\]')
failed=$(printf '%s\n' "$out" | grep -ci '\[fail')
echo "memccapable: $passed passed, $failed failed, exit $rc"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -ge 54 ] && printf '%s\n' "$out" | grep -q 'All tests passed'
