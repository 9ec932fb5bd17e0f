/**
 * docker/: there is no Docker engine here, so the compose file and Dockerfile are checked
 * statically: every node service's id, host name, ports and mounts agree with docker/cluster.json
 * as loadConfigFile reads it, and the image holds what binding/index.ts and the compose file expect.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ClusterConfig, loadConfigFile } from '../../daemon/cluster-config';
import { repoRoot } from '../helpers/procs';
import { installConfig } from './install';

// js-yaml comes with jest (package-lock.json); 3.x names the safe loader safeLoad, 4.x load.
const yaml = require('js-yaml') as { safeLoad?: (t: string) => unknown; load: (t: string) => unknown };

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  hostname?: string;
  command?: string[];
  entrypoint?: string[];
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

const dockerDir = path.join(repoRoot, 'docker');
const compose = (yaml.safeLoad ?? yaml.load)(fs.readFileSync(path.join(dockerDir, 'compose.yml'), 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const dockerfile = fs.readFileSync(path.join(dockerDir, 'Dockerfile'), 'utf8');
const nodeServices = Object.entries(compose.services).filter(([name]) => /^node\d+$/.test(name));

function argAfter(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Container path -> source of each `source:target[:mode]` volume entry. */
function mounts(service: Service): Map<string, string> {
  return new Map((service.volumes ?? []).map((v) => { const [source, target] = v.split(':'); return [target, source]; }));
}

function loadComposeConfig(): ClusterConfig {
  const installed = installConfig(path.join(dockerDir, 'cluster.json'));
  try {
    return loadConfigFile(installed.configFile);
  } finally {
    installed.remove();
  }
}

test('docker/cluster.json loads with loadConfigFile (tcp, three nodes)', () => {
  const config = loadComposeConfig();
  expect(config.fabric.kind).toBe('tcp');
  expect(config.nodes.map((n) => n.id)).toEqual([1, 2, 3]);
});

test('one node service per config node, with matching id, host name and client port', () => {
  const config = loadComposeConfig();
  expect(nodeServices.map(([name]) => name).sort()).toEqual(config.nodes.map((n) => `node${n.id}`));
  for (const [name, service] of nodeServices) {
    const args = service.command ?? [];
    const node = config.nodes.find((n) => n.id === Number(argAfter(args, '--id')))!;
    expect(node).toBeDefined();
    expect(`node${node.id}`).toBe(name);
    // The fabric and the peer link listen on the config's host: it must be this container's name.
    expect(node.host).toBe(name);
    expect(service.hostname).toBe(name);
    // The published port and the healthcheck reach the client port.
    for (const p of service.ports ?? []) expect(p.split(':').pop()).toBe(String(node.clientPort));
    expect(service.healthcheck?.test.join(' ')).toContain(`connect(${node.clientPort}, '127.0.0.1')`);
    expect(argAfter(args, '-l')).toBe('0.0.0.0'); // so the healthcheck's 127.0.0.1 reaches it
  }
});

test('every node mounts the config where --config points and the secret where secretFile resolves', () => {
  const raw = JSON.parse(fs.readFileSync(path.join(dockerDir, 'cluster.json'), 'utf8')) as { secretFile: string };
  for (const [, service] of nodeServices) {
    const configPath = argAfter(service.command ?? [], '--config')!;
    const m = mounts(service);
    expect(m.get(configPath)).toBe('./cluster.json');
    const secretPath = path.posix.join(path.posix.dirname(configPath), raw.secretFile);
    const secretVolumeTarget = path.posix.dirname(secretPath);
    expect(m.get(secretVolumeTarget)).toBe('keys');
    expect(service.depends_on?.keygen?.condition).toBe('service_completed_successfully');
  }
  // keygen writes exactly that file into the same volume, and the image owns that directory.
  const keygen = compose.services.keygen;
  expect(mounts(keygen).get('/etc/mucached/keys')).toBe('keys');
  expect(keygen.entrypoint?.join(' ')).toContain("'/etc/mucached/keys/secret'");
  expect(dockerfile).toMatch(/chown mucached:mucached \/etc\/mucached\/keys/);
  expect(Object.keys(compose.volumes)).toContain('keys');
});

test('the client runs a benchmark against a node once every node is healthy', () => {
  const config = loadComposeConfig();
  const client = compose.services.client;
  const [, , host, port] = client.command ?? [];
  expect(config.nodes.some((n) => n.host === host && String(n.clientPort) === port)).toBe(true);
  expect(client.entrypoint?.join(' ')).toMatch(/dist\/loadgen\/memcached-puts-gets\.js$/);
  expect(fs.existsSync(path.join(repoRoot, 'loadgen', 'memcached-puts-gets.ts'))).toBe(true);
  for (const [name] of nodeServices) expect(client.depends_on?.[name]?.condition).toBe('service_healthy');
});

test('every service builds or uses the one image built from docker/Dockerfile at the repository root', () => {
  for (const [, service] of Object.entries(compose.services)) {
    expect(service.image).toBe('mucached:local');
    if (service.build) {
      expect(path.resolve(dockerDir, service.build.context)).toBe(repoRoot);
      expect(service.build.dockerfile).toBe('docker/Dockerfile');
    }
  }
});

test('Dockerfile: node:20-bookworm build stage, slim non-root runtime with only dist, node_modules, the addon and its herald', () => {
  const stages = dockerfile.split('\n').filter((l) => l.startsWith('FROM '));
  expect(stages).toEqual(['FROM node:20-bookworm AS build', 'FROM node:20-bookworm-slim AS runtime']);
  const [build, runtime] = dockerfile.split(/^FROM node:20-bookworm-slim AS runtime$/m);
  for (const pkg of ['libibverbs-dev', 'librdmacm-dev', 'cmake', 'g++', 'make']) expect(build).toContain(` ${pkg}`);
  expect(build).toMatch(/npm ci/);
  expect(build).toMatch(/npm run build:native/);
  expect(build).toMatch(/npm prune --omit=dev/);
  const copies = runtime.split('\n').filter((l) => l.startsWith('COPY')).map((l) => l.split(/\s+/).slice(-2).join(' '));
  expect(copies).toEqual([
    '/src/package.json ./package.json',
    '/src/node_modules ./node_modules',
    '/src/dist ./dist',
    '/src/binding/build/Release/*.node ./binding/build/Release/',
    '/src/binding/build/Release/mucached-herald ./binding/build/Release/',
  ]);
  // binding/index.ts looks for the herald beside the addon.
  expect(fs.readFileSync(path.join(repoRoot, 'binding', 'index.ts'), 'utf8')).toContain("path.join(path.dirname(addonPath()), heraldFile)");
  // binding/index.ts looks for the addon in <dist>/../binding/build/Release.
  expect(fs.readFileSync(path.join(repoRoot, 'binding', 'index.ts'), 'utf8')).toContain("path.join(__dirname, '..', '..', 'binding', 'build', 'Release', addonFile)");
  expect(runtime).toMatch(/^USER mucached$/m);
  expect(runtime).toMatch(/^ENTRYPOINT \["node", "--initial-old-space-size=128", "--max-semi-space-size=32", "\/opt\/mucached\/dist\/daemon\/cli\.js"\]$/m);
});

test('the build context leaves out host builds (a host CMakeCache.txt breaks cmake in the image)', () => {
  const ignored = fs.readFileSync(path.join(dockerDir, 'Dockerfile.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', 'binding/build', '.git']));
});
