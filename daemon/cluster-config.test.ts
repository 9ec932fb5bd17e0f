import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { configFromIds, loadConfigFile, resolveSelf, restrictToIds, validateConfig } from './cluster-config';

const good = {
  cluster: 'test',
  fabric: { kind: 'tcp' },
  secret: 's3cret',
  nodes: [{ id: 2, host: '127.0.0.1' }, { id: 1, host: '127.0.0.1', clientPort: 12000, fabricPort: 12100 }],
};

test('a valid config fills default ports and sorts nodes by id', () => {
  const c = validateConfig(good, 'c.json');
  expect(c.nodes.map((n) => [n.id, n.clientPort, n.fabricPort])).toEqual([[1, 12000, 12100], [2, 11212, 11312]]);
});

test.each([
  [{ ...good, fabric: { kind: 'rdma' } }, /c\.json: fabric\.kind: must be "shm", "tcp" or "verbs"/],
  [{ ...good, secret: undefined }, /c\.json: secret: the tcp fabric needs a cluster secret/],
  [{ ...good, nodes: [{ id: 1 }, { id: 1, clientPort: 1 }] }, /nodes\[1\]\.id: duplicate node id 1/],
  [{ ...good, nodes: [{ id: 1, clientPort: 70000 }] }, /nodes\[0\]\.clientPort: must be a TCP port/],
  [{ ...good, nodes: [{ id: 1, clientPort: 5000 }, { id: 2, clientPort: 5000 }] }, /nodes\[1\]\.clientPort: 127\.0\.0\.1:5000 is already used by nodes\[0\]\.clientPort/],
  [{ ...good, nodez: [] }, /c\.json: nodez: unknown field/],
  [{ ...good, fabric: { kind: 'tcp', herald: 'no' } }, /c\.json: fabric\.herald: must be true or false, got "no"/],
  [{ ...good, fabric: { kind: 'shm', herald: false } }, /c\.json: fabric\.herald: only the tcp fabric has death heralds \(this one is shm\)/],
])('every problem names the file and the field', (raw, message) => {
  expect(() => validateConfig(raw, 'c.json')).toThrow(message);
});

test('tcp: fabric.herald turns the death herald off; absent, the fabric starts one', () => {
  expect(validateConfig({ ...good, fabric: { kind: 'tcp', herald: false } }, 'c.json').fabric.herald).toBe(false);
  expect(validateConfig(good, 'c.json').fabric.herald).toBeUndefined();
});

test('a file that is not JSON is reported with its path', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mucfg-')), 'cluster.json');
  fs.writeFileSync(file, '{ "nodes": [');
  expect(() => loadConfigFile(file)).toThrow(`${file}: (file): not valid JSON`);
  fs.rmSync(path.dirname(file), { recursive: true });
});

test('SID and IDS are honoured, --id wins over SID', () => {
  const c = configFromIds('1,2,3', 'shm');
  expect(c.nodes.map((n) => n.clientPort)).toEqual([11211, 11212, 11213]);
  expect(resolveSelf(c, undefined, { SID: '2' }).id).toBe(2);
  expect(resolveSelf(c, 3, { SID: '2' }).id).toBe(3);
  expect(() => resolveSelf(c, 4, {})).toThrow(/no node with id 4/);
  expect(() => resolveSelf(c, undefined, {})).toThrow(/pass --id N or set SID/);
  expect(restrictToIds(validateConfig(good, 'c.json'), '2').nodes.map((n) => n.id)).toEqual([2]);
  expect(() => restrictToIds(validateConfig(good, 'c.json'), '5')).toThrow(/IDS names node 5/);
});
