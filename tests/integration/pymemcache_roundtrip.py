"""Text-protocol round trips through pymemcache against 127.0.0.1:PORT.

Usage: /usr/bin/python3 pymemcache_roundtrip.py PORT
Prints one line per check ("ok <name>" or "FAIL <name>: <detail>") and exits 1 if any failed.
"""
import sys

from pymemcache.client.base import Client

port = int(sys.argv[1])
c = Client(("127.0.0.1", port), connect_timeout=5, timeout=5, default_noreply=False)
failures = 0


def check(name, got, want):
    global failures
    if got == want:
        print("ok", name)
    else:
        failures += 1
        print("FAIL %s: got %r want %r" % (name, got, want))


check("set", c.set("py:a", b"hello", expire=0, flags=7), True)
check("get", c.get("py:a"), b"hello")
value, cas = c.gets("py:a")
check("gets value", value, b"hello")
check("cas ok", c.cas("py:a", b"world", cas), True)
check("cas stale", c.cas("py:a", b"again", cas), False)
check("get after cas", c.get("py:a"), b"world")
check("add existing", c.add("py:a", b"x"), False)
check("add new", c.add("py:b", b"1"), True)
check("replace", c.replace("py:b", b"10"), True)
check("append", c.append("py:b", b"0"), True)
check("prepend", c.prepend("py:b", b"2"), True)
check("get_many", c.get_many(["py:a", "py:b", "py:missing"]), {"py:a": b"world", "py:b": b"2100"})
check("incr", c.incr("py:b", 5), 2105)
check("decr", c.decr("py:b", 3000), 0)
check("incr missing", c.incr("py:missing", 1), None)
c.set("py:max", b"18446744073709551615")
check("incr wraps at 2^64", c.incr("py:max", 1), 0)
check("touch", c.touch("py:a", 1000), True)
check("touch missing", c.touch("py:missing", 1000), False)
check("delete", c.delete("py:a"), True)
check("delete missing", c.delete("py:a"), False)
check("get deleted", c.get("py:a"), None)
check("empty value", (c.set("py:empty", b""), c.get("py:empty")), (True, b""))
big = bytes(range(256)) * 4000
check("1 MB-ish binary value", (c.set("py:big", big), c.get("py:big") == big), (True, True))
check("noreply set", c.set("py:nr", b"v", noreply=True), True)
check("get after noreply", c.get("py:nr"), b"v")
check("stats has curr_items", b"curr_items" in c.stats() or "curr_items" in c.stats(), True)
check("version", len(c.version()) > 0, True)
check("flush_all", c.flush_all(), True)
check("get after flush", c.get("py:b"), None)
c.close()
sys.exit(1 if failures else 0)
