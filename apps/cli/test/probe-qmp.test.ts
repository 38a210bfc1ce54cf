import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { ProbeError, QmpClient, QmpCommandError } from '@efikdump/firmware-uefi';
import { tempDir } from './helpers';

type Handler = (message: Record<string, unknown>, reply: (m: unknown) => void, socket: Socket) => void;

/** A QMP server that speaks the protocol's framing (one JSON object per CRLF line) and lets a test script answers. */
async function fakeServer(
  path: string,
  handler: Handler,
  greeting: unknown = { QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'fake' }, capabilities: ['oob'] } },
): Promise<Server> {
  const server = createServer((socket) => {
    socket.write(typeof greeting === 'string' ? greeting : JSON.stringify(greeting) + '\r\n');
    let buffer = '';
    socket.on('data', (d) => {
      buffer += d.toString('utf8');
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        const message = JSON.parse(line) as Record<string, unknown>;
        if (message.execute === 'qmp_capabilities') socket.write(JSON.stringify({ return: {}, id: message.id }) + '\r\n');
        else handler(message, (m) => socket.write(JSON.stringify(m) + '\r\n'), socket);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

const event = (name: string, data?: unknown) => ({ event: name, ...(data ? { data } : {}), timestamp: { seconds: 1, microseconds: 2 } });

describe('QmpClient against a fake QMP server', () => {
  const tmp = tempDir('qmp');
  const servers: Server[] = [];
  let n = 0;
  const socketPath = () => join(tmp.dir, `qmp-${n++}.sock`);
  afterAll(() => {
    for (const s of servers) s.close();
    tmp.cleanup();
  });
  const serve = async (handler: Handler, greeting?: unknown) => {
    const path = socketPath();
    servers.push(await fakeServer(path, handler, greeting));
    return path;
  };

  test('reads the greeting, negotiates capabilities, and matches answers to commands by id', async () => {
    const path = await serve((m, reply) => {
      if (m.execute === 'query-status') {
        // An event in between, and the answer split over two writes.
        reply(event('RTC_CHANGE', { offset: 0 }));
        reply({ return: { status: 'paused', running: false }, id: m.id });
      } else if (m.execute === 'query-name') {
        setTimeout(() => reply({ return: { name: 'x' }, id: m.id }), 20);
      }
    });
    const qmp = await QmpClient.connect(path);
    try {
      expect(qmp.greeting.version?.qemu?.major).toBe(7);
      const [name, status] = await Promise.all([qmp.execute('query-name'), qmp.status()]);
      expect(status).toBe('paused');
      expect(name).toEqual({ name: 'x' });
      expect(qmp.events.map((e) => e.event)).toEqual(['RTC_CHANGE']);
    } finally {
      qmp.close();
    }
  });

  test('a message split across chunks and several messages in one chunk are both parsed', async () => {
    const path = await serve((m, _reply, socket) => {
      const text = JSON.stringify(event('STOP')) + '\r\n' + JSON.stringify({ return: {}, id: m.id }) + '\r\n';
      socket.write(text.slice(0, 7));
      setTimeout(() => socket.write(text.slice(7)), 10);
    });
    const qmp = await QmpClient.connect(path);
    try {
      await expect(qmp.execute('stop')).resolves.toEqual({});
      await expect(qmp.waitForEvent('STOP', 1000, 0)).resolves.toMatchObject({ event: 'STOP' });
    } finally {
      qmp.close();
    }
  });

  test('an error answer rejects with QmpCommandError naming the command, class and description', async () => {
    const path = await serve((m, reply) =>
      reply({ error: { class: 'CommandNotFound', desc: 'The command nope has not been found' }, id: m.id }),
    );
    const qmp = await QmpClient.connect(path);
    try {
      const e = await qmp.execute('nope').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(QmpCommandError);
      expect((e as QmpCommandError).message).toBe('QMP nope: CommandNotFound: The command nope has not been found');
      expect((e as QmpCommandError).exitCode).toBe(8);
    } finally {
      qmp.close();
    }
  });

  test('waitForEvent resolves on a later event and times out with a ProbeError', async () => {
    const path = await serve((m, reply) => {
      if (m.execute === 'system_reset') {
        reply({ return: {}, id: m.id });
        setTimeout(() => reply(event('RESET', { guest: false, reason: 'host-qmp-system-reset' })), 20);
      }
    });
    const qmp = await QmpClient.connect(path);
    try {
      const since = qmp.events.length;
      await qmp.execute('system_reset');
      await expect(qmp.waitForEvent('RESET', 2000, since)).resolves.toMatchObject({ data: { reason: 'host-qmp-system-reset' } });
      await expect(qmp.waitForEvent('SHUTDOWN', 50)).rejects.toThrow('QMP: no SHUTDOWN event within 50 ms');
    } finally {
      qmp.close();
    }
  });

  test('a command without an answer times out; QEMU closing the socket rejects what is pending', async () => {
    const path = await serve((m, _reply, socket) => {
      if (m.execute === 'quit') setTimeout(() => socket.destroy(), 20);
    });
    const qmp = await QmpClient.connect(path);
    await expect(qmp.execute('query-status', undefined, 50)).rejects.toThrow('QMP query-status: no answer within 50 ms');
    const quit = qmp.execute('quit', undefined, 5000);
    await expect(quit).rejects.toBeInstanceOf(ProbeError);
    await expect(quit).rejects.toThrow('QMP connection closed by QEMU');
    expect(qmp.closed).toBe(true);
    await expect(qmp.execute('cont')).rejects.toThrow('closed');
  });

  test('a server that is not QMP, or no server at all, is a ProbeError', async () => {
    const path = await serve(() => undefined, 'HTTP/1.0 400 Bad Request\r\n');
    await expect(QmpClient.connect(path, { connectTimeoutMs: 1000 })).rejects.toThrow(/QMP connect: expected a JSON greeting/);
    await expect(QmpClient.connect(join(tmp.dir, 'absent.sock'), { connectTimeoutMs: 1000 })).rejects.toBeInstanceOf(ProbeError);
  });
});
