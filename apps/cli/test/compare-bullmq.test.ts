import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { BIN, efikdump, hasCommand, tempDir, toolAvailable } from './helpers';

/** Integration: a real redis-server on 127.0.0.1, real `efikdump worker` processes, SIGKILL mid-sweep. */
const haveRedis = toolAvailable(hasCommand('redis-server', ['--version']), 'redis-server (Debian package redis-server)');
const maybe = haveRedis ? describe : describe.skip;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function waitFor(child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern} in:\n${text}`)), timeoutMs);
    child[stream]!.on('data', (d: Buffer) => {
      text += d.toString();
      const m = pattern.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    });
  });
}

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

maybe('compare --backend bullmq over a real redis-server', () => {
  let redis: ChildProcess;
  let url: string;
  const children: ChildProcess[] = [];
  const tmp = tempDir('bullmq');

  const startWorker = async () => {
    const w = spawn(process.execPath, [BIN, 'worker', '--redis', url, '--lock-ms', '2000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(w);
    await waitFor(w, 'stderr', /worker: ready/);
    return w;
  };

  beforeAll(async () => {
    const port = await freePort();
    url = `redis://127.0.0.1:${port}`;
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await waitFor(redis, 'stdout', /Ready to accept connections/);
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.all(children.map(exited));
    redis.kill('SIGTERM');
    await exited(redis);
    tmp.cleanup();
  });

  it('survives a worker killed with SIGKILL mid-sweep: every cell count exact, JSON byte-identical to in-process; a restarted coordinator resumes', async () => {
    const matrix = ['--designs', 'efi-warm-reserved-memory,efi-warm-with-firmware-retention', '--scenarios', 'healthy,firmware-scrubs-low-memory,mor-set', '--runs', '8', '--seed', '100'];
    const local = efikdump(['compare', ...matrix, '--backend', 'local', '--report', join(tmp.dir, 'local')]);
    expect(local.status).toBe(0);
    const expected = readFileSync(join(tmp.dir, 'local', 'report.json'), 'utf8');

    const victim = await startWorker();
    const survivor = await startWorker();
    const coordinator = spawn(process.execPath, [BIN, 'compare', ...matrix, '--backend', 'bullmq', '--redis', url, '--report', join(tmp.dir, 'bullmq')], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(coordinator);
    let out = '';
    coordinator.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    // Kill one worker while the sweep is under way (at least 20 % done, not finished).
    await waitFor(coordinator, 'stderr', /compare: (1\d|2\d|3\d)\/48 runs/);
    victim.kill('SIGKILL');
    expect(await exited(coordinator)).toBe(0);
    expect(victim.signalCode).toBe('SIGKILL');
    expect(survivor.exitCode).toBeNull();
    expect(out).toContain('48 runs on bullmq');

    const got = readFileSync(join(tmp.dir, 'bullmq', 'report.json'), 'utf8');
    const report = JSON.parse(got);
    for (const c of report.cells) {
      expect(c.runs).toBe(8);
      expect(Object.values(c.outcomes as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(8);
    }
    expect(got).toBe(expected);

    // A second coordinator on the same matrix re-enqueues nothing new (same job ids) and gathers the same bytes.
    const again = spawnSync(process.execPath, [BIN, 'compare', ...matrix, '--backend', 'bullmq', '--redis', url, '--json', '--report', join(tmp.dir, 'again')], { encoding: 'utf8', timeout: 30_000 });
    expect(again.status).toBe(0);
    expect(again.stdout).toBe(expected);
  }, 180_000);
});
