import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { markFileName, readOrCreateMark } from './membership-mark';

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mucached-mark-')); });
afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

test('the first start marks the node, every later start finds the mark', () => {
  const state = path.join(dir, 'state');
  const first = readOrCreateMark(state, 'prod', 2);
  expect(first.startedBefore).toBe(false);
  expect(first.said).toBe(`first start of node 2 in cluster prod: marked in ${path.join(state, 'member-prod-node2')}`);
  expect(fs.statSync(state).mode & 0o777).toBe(0o700);
  const again = readOrCreateMark(state, 'prod', 2);
  expect(again.startedBefore).toBe(true);
  expect(again.said).toMatch(/^node 2 ran in cluster prod before \(.*member-prod-node2, first started \d{4}-\d\d-\d\dT.*\): it restarted empty/);
  // Another node, or another cluster, in the same directory has a mark of its own.
  expect(readOrCreateMark(state, 'prod', 3).startedBefore).toBe(false);
  expect(readOrCreateMark(state, 'staging', 2).startedBefore).toBe(false);
});

test('a mark whose contents are unreadable still marks the node; odd cluster names make safe file names', () => {
  fs.writeFileSync(path.join(dir, markFileName('a/b c', 1)), 'garbage');
  expect(markFileName('a/b c', 1)).toBe('member-a_b_c-node1');
  const m = readOrCreateMark(dir, 'a/b c', 1);
  expect(m.startedBefore).toBe(true);
  expect(m.said).toContain(`(${path.join(dir, 'member-a_b_c-node1')}):`);
});

test('no state directory: nothing is known, and the line says what that costs', () => {
  for (const none of [undefined, '']) {
    const m = readOrCreateMark(none, 'prod', 1);
    expect(m.startedBefore).toBeUndefined();
    expect(m.said).toMatch(/^no state directory .*a restart of this node cannot be told from its first start/);
  }
});

test('a directory that cannot be made or written is an error naming it', () => {
  expect(() => readOrCreateMark(path.join(dir, 'missing', 'state'), 'prod', 1)).toThrow(`state directory ${path.join(dir, 'missing', 'state')}: cannot create it: ENOENT`);
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, '');
  expect(() => readOrCreateMark(file, 'prod', 1)).toThrow(`state directory ${file}: cannot write ${path.join(file, 'member-prod-node1')}: ENOTDIR`);
});
