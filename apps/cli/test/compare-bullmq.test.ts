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

/** Runs the CLI without blocking this process's event loop (the workers' stderr keeps flowing in). */
function runCli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    c.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Waits until `cond` holds, checking every 50 ms, for at most `ms` (then the assertions that follow fail). */
async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  for (const t0 = Date.now(); !cond() && Date.now() - t0 < ms;) await new Promise((r) => setTimeout(r, 50));
}

const exited = (c: ChildProcess) =>
  new Promise<number | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

maybe('compare --backend bullmq over a real redis-server', () => {
  let redis: ChildProcess;
  let url: string;
  const children: ChildProcess[] = [];
  const tmp = tempDir('bullmq');

  /** Every stderr line of each worker, for the start/done lines --verbose prints. */
  const logs = new Map<ChildProcess, string[]>();
  const startWorker = async () => {
    const w = spawn(process.execPath, [BIN, 'worker', '--redis', url, '--lock-ms', '2000', '--verbose'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(w);
    const lines: string[] = [];
    logs.set(w, lines);
    let part = '';
    w.stderr!.on('data', (d: Buffer) => {
      const text = part + d.toString();
      const cut = text.split('\n');
      part = cut.pop()!;
      lines.push(...cut);
    });
    await waitFor(w, 'stderr', /worker: ready/);
    return w;
  };
  const ids = (w: ChildProcess, what: 'start' | 'done') =>
    logs
      .get(w)!
      .map((l) => new RegExp(`^worker: ${what} (.*)$`).exec(l)?.[1])
      .filter((x): x is string => Boolean(x));
  /** Resolves when `w` has started a job it has not finished: the job it is running now. */
  const midJob = (w: ChildProcess) =>
    new Promise<string>((resolve) => {
      const check = () => {
        const started = ids(w, 'start');
        const last = started[started.length - 1];
        if (last && !ids(w, 'done').includes(last)) {
          w.stderr!.off('data', check);
          resolve(last);
        }
      };
      w.stderr!.on('data', () => setImmediate(check));
    });

  beforeAll(async () => {
    const port = await freePort();
    url = `redis://127.0.0.1:${port}`;
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await waitFor(redis, 'stdout', /Ready to accept connections/);
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.all(children.map(exited));
    redis.kill('SIGTERM');
    await exited(redis);
    tmp.cleanup();
  });

  it('survives a worker killed with SIGKILL in the middle of a job: the job is retried by the other worker, every cell count exact, JSON byte-identical to in-process', async () => {
    const matrix = [
      '--designs',
      'efi-warm-reserved-memory,efi-warm-with-firmware-retention',
      '--scenarios',
      'healthy,firmware-scrubs-low-memory,mor-set',
      '--runs',
      '8',
      '--seed',
      '100',
    ];
    const local = efikdump(['compare', ...matrix, '--backend', 'local', '--report', join(tmp.dir, 'local')]);
    expect(local.status).toBe(0);
    const expected = readFileSync(join(tmp.dir, 'local', 'report.json'), 'utf8');

    const victim = await startWorker();
    const survivor = await startWorker();
    const coordinator = spawn(
      process.execPath,
      [BIN, 'compare', ...matrix, '--backend', 'bullmq', '--redis', url, '--report', join(tmp.dir, 'bullmq')],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(coordinator);
    let out = '';
    coordinator.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    // Once the sweep is under way, kill the victim while it runs a job (started, not finished).
    await waitFor(coordinator, 'stderr', /compare: (1\d|2\d|3\d)\/48 runs/);
    const inFlight = await midJob(victim);
    victim.kill('SIGKILL');
    expect(await exited(coordinator)).toBe(0);
    expect(victim.signalCode).toBe('SIGKILL');
    expect(survivor.exitCode).toBeNull();
    expect(out).toContain('48 runs on bullmq');
    // The job the victim held was moved back by the stalled-job check and finished by the survivor.
    expect(ids(victim, 'done')).not.toContain(inFlight);
    expect(ids(survivor, 'done')).toContain(inFlight);

    const got = readFileSync(join(tmp.dir, 'bullmq', 'report.json'), 'utf8');
    const report = JSON.parse(got);
    for (const c of report.cells) {
      expect(c.runs).toBe(8);
      expect(Object.values(c.outcomes as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(8);
    }
    expect(got).toBe(expected);

    // A second coordinator on the same matrix: same sweep id, so it adds nothing, runs nothing, and gathers the same bytes.
    const started = ids(survivor, 'start').length;
    const again = await runCli(['compare', ...matrix, '--backend', 'bullmq', '--redis', url, '--json', '--report', join(tmp.dir, 'again')]);
    expect(again.status).toBe(0);
    expect(again.stdout).toBe(expected);
    expect(ids(survivor, 'start').length).toBe(started);
  }, 180_000);

  it('resumes a sweep whose coordinator was killed: --resume ID reads the matrix from Redis, runs no finished job again, and writes the report of a sweep without the kill', async () => {
    const matrix = [
      '--designs',
      'efi-warm-reserved-memory,classic-kexec',
      '--scenarios',
      'healthy,torn-handoff-record',
      '--runs',
      '6',
      '--seed',
      '300',
    ];
    const local = efikdump(['compare', ...matrix, '--backend', 'local', '--json', '--report', join(tmp.dir, 'local2')]);
    expect(local.status).toBe(0);

    const live = children.filter((c) => logs.has(c) && c.exitCode === null && c.signalCode === null);
    const workers = [...live, ...(await Promise.all(Array.from({ length: Math.max(0, 2 - live.length) }, () => startWorker())))];
    expect(workers).toHaveLength(2);
    const before = new Map(workers.map((w) => [w, ids(w, 'done').length]));
    const coordinator = spawn(
      process.execPath,
      [BIN, 'compare', ...matrix, '--backend', 'bullmq', '--redis', url, '--report', join(tmp.dir, 'killed')],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(coordinator);
    const announced = waitFor(coordinator, 'stderr', /compare: sweep ([0-9a-f]{16}) on queue/);
    await waitFor(coordinator, 'stderr', /compare: ([3-9]|1\d)\/24 runs/);
    coordinator.kill('SIGKILL');
    await exited(coordinator);
    const id = /sweep ([0-9a-f]{16})/.exec(await announced)![1];

    const resumed = await runCli([
      'compare',
      '--backend',
      'bullmq',
      '--redis',
      url,
      '--resume',
      id,
      '--json',
      '--report',
      join(tmp.dir, 'resumed'),
    ]);
    expect(resumed.stderr).toBe('');
    expect(resumed.status).toBe(0);
    expect(resumed.stdout).toBe(local.stdout);
    // Every job of the sweep ran exactly once, across both workers, kill and resume included.
    const doneOfSweep = () => workers.flatMap((w) => ids(w, 'done').slice(before.get(w)!)).filter((j) => j.startsWith(`${id}|`));
    await until(() => doneOfSweep().length >= 24);
    const ran = doneOfSweep();
    expect(ran).toHaveLength(24);
    expect(new Set(ran).size).toBe(24);

    // An unknown id, and a matrix given beside --resume, are configuration errors (exit 2).
    const unknown = spawnSync(
      process.execPath,
      [BIN, 'compare', '--backend', 'bullmq', '--redis', url, '--resume', '0123456789abcdef', '--report', join(tmp.dir, 'x')],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/no sweep 0123456789abcdef on queue efikdump-compare/);
    const both = spawnSync(
      process.execPath,
      [BIN, 'compare', '--backend', 'bullmq', '--redis', url, '--resume', id, '--runs', '3', '--report', join(tmp.dir, 'x')],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/--resume takes the matrix from the stored sweep; do not give --runs/);
  }, 180_000);
});
