/**
 * Byte sequences for the ASCII protocol, each a list of pieces written separately (so commands
 * and values cross TCP chunk boundaries). Run in order on one server they build on each other's
 * state, so the same list replayed on memcached and on mucached must give the same bytes.
 */
export interface Scenario {
  name: string;
  pieces: string[];
  /** The server closes the connection at the end (no sentinel can be appended). */
  closes?: boolean;
}

const longKey = 'k'.repeat(251);
const manyKeys = Array.from({ length: 600 }, (_, i) => ` k${i}`).join('');

export const SCENARIOS: Scenario[] = [
  { name: 'set/get', pieces: ['set a 0 0 3\r\nabc\r\n', 'get a\r\n'] },
  { name: 'value split across chunks', pieces: ['set a 5 0 10\r\nhello', ' worl', 'd\r\n', 'gets a\r\n'] },
  { name: 'value longer than announced', pieces: ['set a 0 0 3\r\nabcde\r\n', 'get a\r\n'] },
  { name: 'bad chunk with noreply', pieces: ['set a 0 0 3 noreply\r\nabcde\r\n', 'get a\r\n'] },
  { name: 'bad chunk, rest parsed as commands', pieces: ['set a 0 0 3\r\nabcdefghij\r\nget a\r\n'] },
  { name: 'bad chunk ending in \\n\\r', pieces: ['set a 0 0 3\r\nab\r\n\r\n', 'get a\r\n'] },
  { name: 'too large, value sent', pieces: ['set a 0 0 1\r\nx\r\n', 'set a 0 0 2000000\r\n', 'y'.repeat(1_000_000), 'y'.repeat(1_000_000), '\r\nget a\r\n'] },
  { name: 'too large noreply', pieces: ['set a 0 0 2000000 noreply\r\n', 'z'.repeat(2_000_000) + '\r\n', 'get a\r\n'] },
  { name: 'set with a key over 250 bytes', pieces: [`set ${longKey} 0 0 1\r\nx\r\n`, 'get a\r\n'] },
  // memcached answers a get holding an over-long key by culling every reply it has not sent yet,
  // earlier pipelined commands' too (timing-dependent), so such a get opens its connection here.
  { name: 'get with a key over 250 bytes', pieces: [`get ${longKey}\r\n`] },
  { name: 'get drops found values on a long key', pieces: [`get a ${longKey}\r\n`, 'get a\r\n'] },
  { name: 'control characters in keys', pieces: ['set a\tb 0 0 1\r\nx\r\nget a\tb\r\n', 'set a\u0001b 0 0 1\r\nx\r\nget a\u0001b\r\n'] },
  { name: 'NUL ends the line', pieces: ['get a\u0000b\r\n'] },
  { name: 'extra spaces, bare \\n', pieces: ['set  a  0  0  1 \r\nx\r\n', 'set a 0 0 1\nx\r\nget a\n'] },
  { name: 'bad numbers', pieces: ['set a 0 0 -1\r\nx\r\n', 'set a abc 0 1\r\nx\r\n', 'set a 4294967296 0 1\r\nx\r\n', 'set a -1 0 1\r\nx\r\n', 'set a 4294967295 0 1\r\nx\r\ngets a\r\n'] },
  { name: 'C number syntax', pieces: ['set a +5 0 1\r\nx\r\nset a -0 0 1\r\nx\r\nset a 5\t 0 1\r\nx\r\nset a \t7 0 1\r\nx\r\nget a\r\nset a 0 0 1 junk\r\nx\r\n'] },
  { name: 'add/replace/append/prepend/cas', pieces: ['add a 0 0 1\r\nq\r\nadd new 0 0 1\r\nq\r\nreplace nope 0 0 1\r\nq\r\nreplace a 0 0 2\r\nrr\r\nappend a 0 0 1\r\n>\r\nprepend a 0 0 1\r\n<\r\nappend nope 0 0 1\r\nx\r\ngets a\r\ncas a 0 0 1 1\r\nx\r\ncas nope 0 0 1 1\r\nx\r\ncas a 0 0 1\r\nx\r\ncas a 0 0 1 abc\r\nx\r\ncas a 0 0 1 1 noreply\r\nx\r\n'] },
  { name: 'cas with the right unique', pieces: ['set c 0 0 1\r\n1\r\ngets c\r\n'] },
  // incr by 2^64-1 wraps (15 -> 14). No incr/decr here meets a stored number >= 2^63: memcached's
  // answer to that depends on stale slab memory (tests/helpers/diffRunner.ts says why).
  { name: 'incr/decr', pieces: ['set n 0 0 2\r\n10\r\nincr n 5\r\nincr n 18446744073709551615\r\ndecr n 100\r\nincr n -1\r\nincr n abc\r\nincr n 1\r\nincr n 18446744073709551616\r\nincr nokey 1\r\nincr n 1 noreply\r\nincr n\r\nset s 0 0 2\r\nab\r\nincr s 1\r\nset sp 0 0 3\r\n 12\r\nincr sp 1\r\nset big 0 0 3\r\n100\r\ndecr big 1\r\nget big\r\n'] },
  { name: 'delete/touch/gat', pieces: ['delete n 0\r\ndelete n 1\r\ndelete n noreply\r\ndelete n 0 noreply\r\ndelete n x noreply\r\ndelete s\r\ndelete s\r\ndelete\r\ntouch sp 10\r\ntouch sp abc\r\ntouch nokey 10\r\ntouch sp 10 noreply\r\ngat 0 sp nokey\r\ngats abc sp\r\ngat 10\r\ngats\r\n'] },
  { name: 'verbosity', pieces: ['verbosity\r\nverbosity 1\r\nverbosity x\r\nverbosity 1 noreply\r\nverbosity 1 2 3\r\nverbosity 0\r\n'] },
  { name: 'flush_all forms', pieces: ['flush_all 0 noreply\r\nflush_all abc\r\nflush_all 0 0 0\r\nflush_all -1\r\nflush_all noreply\r\nflush_all\r\n'] },
  { name: 'shutdown refused', pieces: ['shutdown\r\nshutdown graceful\r\nshutdown x y\r\n'] },
  { name: 'stats subcommands', pieces: ['stats nope\r\nstats detail\r\nstats detail on\r\nstats detail off\r\nstats detail dump\r\nstats cachedump\r\nstats cachedump 1 x\r\n'] },
  { name: 'unknown and short commands', pieces: ['\r\n', '\n', 'x\r\n', 'gets\r\n', 'get     \r\n', 'bget a\r\n', 'mx\r\n', 'mget a\r\n', 'bogus a b c\r\n'] },
  { name: 'multi-get over 2048 bytes', pieces: ['set k7 0 0 1\r\n7\r\n', `get${manyKeys}`, '\r\n', `gets${manyKeys}\r\n`] },
  { name: 'mg flags', pieces: ['set foo 5 0 3\r\nbar\r\n', 'mg foo s v f t k O123 h\r\nmg foo\r\nmg miss v\r\nmg miss k O9 q\r\nmg miss k Oab v\r\n'] },
  { name: 'mg errors', pieces: ['mg foo k q v\r\nmg foo b\r\nmg Zm9v= b\r\nmg foo x\r\nmg foo v v\r\nmg foo Oaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nmg foo E5\r\nmg\r\n'] },
  { name: 'ms forms', pieces: ['ms foo 2 T0 F7 c k O1 b\r\nhi\r\nms foo 2\r\nhi\r\nms foo 2 q\r\nhi\r\nms foo 2 MX\r\nhi\r\nms foo\r\nms foo 2 MR I\r\nhi\r\nms foo 2 S2\r\nhi\r\nms foo x\r\nms foo -1\r\n'] },
  { name: 'ms base64 key', pieces: ['ms Zm9vYg== 2 b k c\r\nhi\r\nmg Zm9vYg== b k v c\r\n'] },
  { name: 'ms bad chunk always replies', pieces: ['ms foo 2 q\r\nhiya\r\n'] },
  { name: 'ms too large', pieces: ['ms foo 2000000 T0\r\n', 'w'.repeat(2_000_000), '\r\nmg foo v\r\n'] },
  { name: 'md forms', pieces: ['set foo 0 0 1\r\nx\r\nmd foo q\r\nmd foo\r\nmd foo k O5 C3\r\nme nope\r\nmd nokey q\r\nmd nokey q k\r\nmd a b c\r\n'] },
  { name: 'ma forms', pieces: ['ma nokey q\r\nma nokey\r\nms n 1\r\n5\r\nma n q\r\nma n v\r\nma n v MD D10\r\nma n MI D3 c t v N0 k O7\r\nma nn N0 J42 v t\r\nma nn N0 J42 v t\r\nma nn D-1\r\nma foo2 MZ\r\nms s 1\r\nx\r\nma s\r\nma s q\r\n'] },
  { name: 'ms modes and CAS', pieces: ['ms x 3 E77\r\nabc\r\nmg x\r\nms x 3 C76\r\nabc\r\nms x 3 C77 c\r\nabd\r\nms x 3 C1 q\r\nabc\r\nms x 3 C1 ME\r\nabc\r\nms x 1 MA\r\nz\r\nms nx 1 MA\r\nz\r\nms nx 1 MA q\r\nz\r\nms x 1 MP\r\ny\r\nmg x v c\r\n'] },
  { name: 'vivify, invalidate, win tokens', pieces: ['mg viv N30 s t v c\r\nmg viv N30 s t v\r\nmg viv v\r\nms viv 3 T0\r\nnew\r\nmg viv v c\r\nmd viv I T30\r\nmg viv v c t\r\nmg viv v c\r\nms viv 3 C1 I\r\nold\r\nmg viv v c\r\n'] },
  { name: 'recache and touch via mg', pieces: ['ms r 1 T100\r\nx\r\nmg r R200 v t\r\nmg r R200 v\r\nmg r v\r\nmg r T0 t\r\nmg r t\r\nmg r u\r\nmg r h l\r\n'] },
  { name: 'me', pieces: ['ms mekey 5 T0\r\nhello\r\nme mekey\r\nme\r\nme nope\r\nme Zm9v b\r\nme foo b\r\nmn\r\nmn extra\r\n'] },
  { name: 'line over 2048 bytes closes', pieces: ['x'.repeat(3000)], closes: true },
  { name: 'HTTP request closes', pieces: ['GET / HTTP/1.1\r\n'], closes: true },
  { name: 'quit closes', pieces: ['get a\r\n', 'quit extra\r\nget a\r\n'], closes: true },
];
