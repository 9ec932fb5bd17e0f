/** Every example in configs/ loads with the daemon's own loader and describes what its name says. */
import * as fs from 'fs';
import * as path from 'path';
import { loadConfigFile } from '../../daemon/cluster-config';
import { repoRoot } from '../helpers/procs';
import { installConfig } from './install';

const configsDir = path.join(repoRoot, 'configs');
const examples = fs.readdirSync(configsDir).filter((f) => f.endsWith('.json')).sort();

test('there is a 3-node and a 5-node example for every fabric', () => {
  for (const kind of ['shm', 'tcp', 'verbs']) {
    for (const size of [3, 5]) expect(examples).toContain(`${kind}-${size}.json`);
  }
});

describe.each(examples)('configs/%s', (name) => {
  const [kind, sizeText] = name.replace(/\.json$/, '').split('-').filter((p) => p !== '1host');
  const size = Number(sizeText);

  test('loads with loadConfigFile when installed with its secret', () => {
    const installed = installConfig(path.join(configsDir, name));
    try {
      const config = loadConfigFile(installed.configFile);
      expect(config.fabric.kind).toBe(kind);
      expect(config.nodes.map((n) => n.id)).toEqual(Array.from({ length: size }, (_, i) => i + 1));
      expect(config.secret).toBe(installed.secret);
      // A majority must survive a failure: odd group sizes only.
      expect(config.nodes.length % 2).toBe(1);
    } finally {
      installed.remove();
    }
  });

  test('uses only loopback or documentation addresses (192.0.2.0/24)', () => {
    const config = JSON.parse(fs.readFileSync(path.join(configsDir, name), 'utf8')) as { nodes: Array<{ host: string }>; fabric: { gid?: string } };
    for (const n of config.nodes) expect(n.host).toMatch(/^(127\.0\.0\.1|192\.0\.2\.\d{1,3})$/);
    if (config.fabric.gid !== undefined) expect(config.fabric.gid).toMatch(/^::ffff:192\.0\.2\.\d{1,3}$/);
  });

  if (kind === 'shm') {
    test('shm: every node on one host, regions outside /tmp (PrivateTmp gives each unit its own)', () => {
      const config = loadConfigFile(path.join(configsDir, name));
      expect(new Set(config.nodes.map((n) => n.host)).size).toBe(1);
      expect(config.fabric.shmDir ?? '/dev/shm').toBe('/dev/shm');
    });
  } else {
    test('tcp/verbs: the secret comes from a file, and the config refuses to load without it', () => {
      const installed = installConfig(path.join(configsDir, name), false);
      try {
        expect(() => loadConfigFile(installed.configFile)).toThrow(/secretFile: cannot read/);
      } finally {
        installed.remove();
      }
    });
  }

  if (kind !== 'shm' && !name.includes('1host')) {
    test('multi-host: one host per node, every node on the same ports', () => {
      const installed = installConfig(path.join(configsDir, name));
      try {
        const config = loadConfigFile(installed.configFile);
        expect(new Set(config.nodes.map((n) => n.host)).size).toBe(config.nodes.length);
        expect(new Set(config.nodes.map((n) => `${n.clientPort}/${n.fabricPort}/${n.peerPort}`)).size).toBe(1);
        // fabric.gid is one value for the whole group: on several hosts it would make every node bind one address.
        expect(config.fabric.gid).toBeUndefined();
      } finally {
        installed.remove();
      }
    });
  }
});
