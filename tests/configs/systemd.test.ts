/**
 * configs/systemd: `systemd-analyze verify` accepts the unit (and the verbs drop-in) with no
 * warning, and the settings the shm fabric depends on are there. verify needs no running systemd.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { repoRoot } from '../helpers/procs';

const systemdDir = path.join(repoRoot, 'configs', 'systemd');
const unitText = fs.readFileSync(path.join(systemdDir, 'mucached@.service'), 'utf8');
const analyze = '/usr/bin/systemd-analyze';

/** Copies the unit (under `unitName`) and optional drop-ins into a fresh directory and verifies one instance. */
function verify(unitName: string, text: string, dropIns: Record<string, string> = {}): { status: number | null; output: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mucached-unit-'));
  try {
    fs.writeFileSync(path.join(dir, unitName), text);
    if (Object.keys(dropIns).length > 0) {
      fs.mkdirSync(path.join(dir, `${unitName}.d`));
      for (const [name, body] of Object.entries(dropIns)) fs.writeFileSync(path.join(dir, `${unitName}.d`, name), body);
    }
    const instance = path.join(dir, unitName.replace('@.service', '@1.service'));
    const run = spawnSync(analyze, ['verify', '--man=no', instance], { encoding: 'utf8', timeout: 30_000 });
    return { status: run.status, output: `${run.stdout}${run.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The values of `key=` lines in the unit (later lines last). */
function settings(key: string, text = unitText): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1).trim());
}

test('systemd-analyze verify accepts mucached@1.service with no output', () => {
  const { status, output } = verify('mucached@.service', unitText);
  expect(output).toBe('');
  expect(status).toBe(0);
});

test('with the verbs drop-in as well', () => {
  const { status, output } = verify('mucached@.service', unitText, { 'verbs.conf': fs.readFileSync(path.join(systemdDir, 'verbs.conf'), 'utf8') });
  expect(output).toBe('');
  expect(status).toBe(0);
});

test('the check can fail: a misspelt key warns, a missing binary fails', () => {
  const typo = verify('mucached@.service', unitText.replace('LockPersonality=yes', 'LockPersonalty=yes'));
  expect(typo.output).toMatch(/Unknown key 'LockPersonalty'/);
  const missing = verify('mucached@.service', unitText.replace('/usr/bin/env node', '/nonexistent/node'));
  expect(missing.status).not.toBe(0);
});

test('one instance per node id, reading the shared cluster file', () => {
  expect(settings('ExecStart')).toEqual(['/usr/bin/env node --initial-old-space-size=128 --max-semi-space-size=32 /opt/mucached/dist/daemon/cli.js --id %i --config /etc/mucached/cluster.json']);
  expect(settings('Restart')).toEqual(['on-failure']);
  expect(settings('RestartPreventExitStatus')).toEqual(['78']); // EX_CONFIG from daemon/cli.ts
});

test('shm: every instance runs as one uid and sees the host /dev/shm', () => {
  // Region files are mode 0600: peers must share the uid. DynamicUser would split it (and imply RemoveIPC).
  expect(settings('User')).toEqual(['mucached']);
  expect(settings('DynamicUser')).toEqual([]);
  expect(settings('RemoveIPC')).toEqual(['no']);
  expect(settings('ReadWritePaths')).toEqual(['/dev/shm']);
  expect(settings('PrivateTmp')).toEqual(['yes']); // only /tmp and /var/tmp: the examples keep regions in /dev/shm
  expect(settings('ProtectSystem')).toEqual(['strict']);
  expect(settings('ProtectHome')).toEqual(['yes']);
  expect(settings('NoNewPrivileges')).toEqual(['yes']);
  expect(settings('LimitNOFILE')).toHaveLength(1);
});

test('address families cover the client port, the fabric and the peer link', () => {
  const families = settings('RestrictAddressFamilies').join(' ').split(/\s+/);
  expect(families).toEqual(expect.arrayContaining(['AF_UNIX', 'AF_INET', 'AF_INET6']));
  expect(settings('RestrictAddressFamilies', fs.readFileSync(path.join(systemdDir, 'verbs.conf'), 'utf8'))).toEqual(['AF_NETLINK']);
});

const sysusers = '/usr/bin/systemd-sysusers';
test('the sysusers file creates the mucached user', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mucached-sysusers-'));
  try {
    fs.mkdirSync(path.join(root, 'etc'));
    const run = spawnSync(sysusers, [`--root=${root}`, '--dry-run', path.join(systemdDir, 'mucached.sysusers')], { encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(0);
    expect(`${run.stdout}${run.stderr}`).toMatch(/Creating user 'mucached'/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
