'use strict';
// Runs inside the test VM (driven by test/vm/port-probe.ts): finds out how a virtio-serial port
// behaves for Node and at the syscall level (vport-probe). The host side is steered through the
// extra port "probe.control": each ask() sends {id, action, ...} and waits for the host's reply.
// Every result is printed as one "PROBE <name> <json>" console line.
const fs = require('node:fs');
const net = require('node:net');
const { spawn, execFileSync } = require('node:child_process');

const PORT = '/dev/virtio-ports/org.qemu.guest_agent.0';
const HOST_PORT = 'org.qemu.guest_agent.0';
const CONTROL = '/dev/virtio-ports/probe.control';
const TOOL = '/opt/payload/vport-probe';

const results = {};
const warnings = [];
process.on('warning', (warning) => warnings.push(`${warning.name}: ${warning.message}`));
function record(name, value) {
  results[name] = value;
  process.stdout.write(`PROBE ${name} ${JSON.stringify(value)}\n`);
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => Number(process.hrtime.bigint() / 1000n) / 1000;

// ---- control channel (host always connected; blocking fd read in the threadpool)
const controlFd = fs.openSync(CONTROL, 'r+');
let controlBuffer = '';
const controlWaiters = new Map();
let nextId = 1;
function pumpControl() {
  const buf = Buffer.alloc(65536);
  fs.read(controlFd, buf, 0, buf.length, null, (error, n) => {
    if (error) throw error;
    controlBuffer += buf.subarray(0, n).toString();
    let i;
    while ((i = controlBuffer.indexOf('\n')) >= 0) {
      const reply = JSON.parse(controlBuffer.slice(0, i));
      controlBuffer = controlBuffer.slice(i + 1);
      controlWaiters.get(reply.id)?.(reply);
      controlWaiters.delete(reply.id);
    }
    setImmediate(pumpControl);
  });
}
function ask(action, extra = {}) {
  const id = nextId++;
  return new Promise((resolve) => {
    controlWaiters.set(id, resolve);
    fs.writeSync(controlFd, `${JSON.stringify({ id, action, port: HOST_PORT, ...extra })}\n`);
  });
}

function tool(...args) {
  const out = execFileSync(TOOL, args, { encoding: 'utf8' }).trim();
  return out.split('\n').map((line) => JSON.parse(line));
}
function toolAsync(...args) {
  const child = spawn(TOOL, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  return new Promise((resolve) => child.on('close', () => resolve(out.trim().split('\n').map((l) => JSON.parse(l)))));
}

function hostConnected() {
  // debugfs shows the driver's view of the host side: "host_connected: 1"
  const dev = fs.readlinkSync(PORT).replace('../', '');
  const text = fs.readFileSync(`/sys/kernel/debug/virtio-ports/${dev}`, 'utf8');
  return /host_connected: 1/.test(text);
}
async function waitHost(connected, timeoutMs = 5000) {
  const start = now();
  while (hostConnected() !== connected) {
    if (now() - start > timeoutMs) throw new Error(`host_connected never became ${connected}`);
    await sleep(10);
  }
  return Math.round(now() - start);
}

function pipeSocket(fd, options = {}) {
  // Internal binding: lets libuv treat the char device as a stream and watch it with epoll.
  const { Pipe, constants } = process.binding('pipe_wrap');
  const handle = new Pipe(constants.SOCKET);
  const rc = handle.open(fd);
  if (rc !== 0) return { rc };
  return { rc, socket: new net.Socket({ handle, readable: true, writable: true, ...options }) };
}

// Runs a child node process (so its threadpool size / CPU time are its own).
function childNode(code, env = {}, timeoutMs = 6000) {
  const t0 = now();
  let out;
  let timedOut = false;
  try {
    out = execFileSync(process.execPath, ['-e', code], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
      timeout: timeoutMs,
    });
  } catch (error) {
    out = error.stdout || '';
    timedOut = error.signal === 'SIGTERM';
  }
  const last = out.trim().split('\n').pop();
  return { ...(last ? JSON.parse(last) : {}), childWallMs: Math.round(now() - t0), killedAfterTimeout: timedOut };
}

async function main() {
  try {
    execFileSync('mount', ['-t', 'debugfs', 'debugfs', '/sys/kernel/debug']);
  } catch {
    // already mounted
  }
  pumpControl();
  await ask('hello');
  record('startState', { hostConnected: hostConnected(), device: fs.readlinkSync(PORT) });

  // ================= host NOT connected
  record('K.open2.noHost', tool('open2', PORT)[0]);
  record('K.poll0.noHost', tool('poll', PORT, '0')[0]);
  record('K.poll1000.noHost', tool('poll', PORT, '1000')[0]);
  record('K.readNonblock.noHost', tool('read', PORT, 'nonblock', '2000')[0]);
  record('K.readBlock.noHost', tool('read', PORT, 'block', '2000')[0]);
  record('K.writeNonblock.noHost', tool('write', PORT, 'nonblock', '2000')[0]);
  record('K.writeBlock.noHost', tool('write', PORT, 'block', '2000')[0]);
  record('K.spin1000.noHost', tool('spin', PORT, '1000')[0]);

  {
    const fd = fs.openSync(PORT, 'r+');
    let second;
    try {
      fs.closeSync(fs.openSync(PORT, 'r+'));
      second = 'opened';
    } catch (error) {
      second = `${error.code} (${error.message})`;
    }
    const buf = Buffer.alloc(4096);
    const t0 = now();
    const n = fs.readSync(fd, buf);
    record('N.readSync.noHost', { secondOpen: second, bytesRead: n, ms: +(now() - t0).toFixed(1) });
    try {
      new net.Socket({ fd });
      record('N.netSocketFd', { accepted: true });
    } catch (error) {
      record('N.netSocketFd', { accepted: false, code: error.code, message: error.message });
    }
    fs.closeSync(fd);
  }

  {
    const events = [];
    const t0 = now();
    const stream = fs.createReadStream(PORT, { highWaterMark: 4096 });
    await new Promise((resolve) => {
      stream.on('open', () => events.push(`open@${(now() - t0).toFixed(1)}`));
      stream.on('data', (d) => events.push(`data(${d.length})`));
      stream.on('end', () => events.push(`end@${(now() - t0).toFixed(1)}`));
      stream.on('error', (e) => events.push(`error:${e.code}`));
      stream.on('close', () => {
        events.push(`close@${(now() - t0).toFixed(1)}`);
        resolve();
      });
      setTimeout(resolve, 3000);
    });
    record('N.createReadStream.noHost', { events });
  }

  {
    const fd = fs.openSync(PORT, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    const { rc, socket } = pipeSocket(fd, { allowHalfOpen: true });
    const events = [];
    const t0 = now();
    if (socket) {
      const cpu0 = process.cpuUsage();
      socket.on('data', (d) => events.push(`data(${d.length})`));
      socket.on('end', () => events.push(`end@${(now() - t0).toFixed(1)}`));
      socket.on('error', (e) => events.push(`error:${e.code}`));
      socket.on('close', () => events.push(`close@${(now() - t0).toFixed(1)}`));
      socket.write('written-while-no-host\n', (error) => events.push(`writeCb:${error ? error.code : 'ok'}@${(now() - t0).toFixed(1)}`));
      await sleep(1500);
      const cpu = process.cpuUsage(cpu0);
      record('N.pipeHandle.noHost', {
        openRc: rc,
        events,
        writableLength: socket.writableLength,
        cpuMsIn1500ms: Math.round((cpu.user + cpu.system) / 1000),
      });
      // Host connects now: does the queued write get through on the same handle?
      await ask('connect');
      await waitHost(true);
      await sleep(1000);
      const got = await ask('received');
      record('N.pipeHandle.noHost.thenConnect', { events: [...events], hostReceived: got.data, hostEvents: got.events });
      socket.destroy();
      await ask('disconnect');
      await waitHost(false);
    } else {
      record('N.pipeHandle.noHost', { openRc: rc });
      fs.closeSync(fd);
    }
  }

  {
    // A blocking write with no host: does it pin a threadpool thread until the host connects?
    const fd = fs.openSync(PORT, 'r+');
    const t0 = now();
    let doneAt;
    let writeResult;
    fs.write(fd, 'blocked-write\n', (error, n) => {
      doneAt = now() - t0;
      writeResult = error ? error.code : n;
    });
    await sleep(1500);
    const pendingAfter1500 = doneAt === undefined;
    await ask('connect');
    await waitHost(true);
    const connectedAt = now() - t0;
    await sleep(500);
    const got = await ask('received');
    record('N.fsWrite.blocking.noHost', {
      pendingAfter1500,
      completedMs: doneAt && +doneAt.toFixed(1),
      hostConnectedMs: +connectedAt.toFixed(1),
      writeResult,
      hostReceived: got.data,
    });
    fs.closeSync(fd);
  }
  const closeSeen = await ask('received');
  record('H.guestClose.hostSide', { hostEvents: closeSeen.events, note: 'host still connected; guest closed its fd' });

  // ================= host connected
  record('K.poll0.host', tool('poll', PORT, '0')[0]);
  record('K.readBlock.host', tool('read', PORT, 'block', '1500')[0]);
  record('K.readNonblock.host', tool('read', PORT, 'nonblock', '1500')[0]);
  record('K.writeNonblock.host', tool('write', PORT, 'nonblock', '1500')[0]);
  await ask('received');

  // Host data sent while no guest process has the port open: held back or lost? (Each tool run
  // opens and closes the port, so each check gets its own send.)
  await ask('send', { data: 'sent-while-guest-closed\n' });
  await sleep(500);
  record('K.readBlock.afterHostSendWhileClosed', tool('read', PORT, 'block', '1500')[0]);
  await ask('send', { data: 'sent-while-guest-closed-2\n' });
  await sleep(500);
  record('K.poll1000.afterHostSendWhileClosed', tool('poll', PORT, '1000')[0]);
  record('K.readBlock.afterPollToolClosedPort', tool('read', PORT, 'block', '1000')[0]);

  {
    // Host data unread by the guest, then the host disconnects: still readable?
    const fd = fs.openSync(PORT, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    await ask('send', { data: 'unread-at-disconnect\n' });
    await sleep(300);
    await ask('disconnect');
    await waitHost(false);
    const buf = Buffer.alloc(4096);
    let first;
    try {
      const n = fs.readSync(fd, buf);
      first = { bytesRead: n, data: buf.subarray(0, n).toString().trim() };
    } catch (error) {
      first = { error: error.code };
    }
    let second;
    try {
      second = { bytesRead: fs.readSync(fd, buf) };
    } catch (error) {
      second = { error: error.code };
    }
    record('N.unreadDataAtHostDisconnect', { first, second });
    fs.closeSync(fd);
  }

  {
    // SIGIO on host connection changes (needs O_ASYNC + F_SETOWN, i.e. native code).
    const pending = toolAsync('sigio', PORT, '4');
    await sleep(800);
    await ask('connect');
    await sleep(800);
    await ask('send', { data: 'x\n' });
    await sleep(800);
    await ask('disconnect');
    record('K.sigio', await pending);
  }

  {
    // Blocking fs.read with the host connected but silent: the read sits in a threadpool thread.
    // With UV_THREADPOOL_SIZE=1 any other fs call queues behind it.
    await ask('connect');
    await waitHost(true);
    const code = `
      const fs = require('fs');
      const fd = fs.openSync(${JSON.stringify(PORT)}, 'r+');
      const t0 = Date.now();
      fs.read(fd, Buffer.alloc(16), 0, 16, null, () => {});
      let statMs;
      fs.stat('/', () => { statMs = Date.now() - t0; });
      setTimeout(() => { console.log(JSON.stringify({ statCompletedWithin2000ms: statMs !== undefined, statMs })); process.exit(0); }, 2000);
      // process.exit() with the read still blocked: does exit wait for the threadpool thread?
    `;
    record('N.threadpoolBlocked.size1', childNode(code, { UV_THREADPOOL_SIZE: '1' }));
    record('N.threadpoolBlocked.size4', childNode(code, { UV_THREADPOOL_SIZE: '4' }));
  }

  {
    // Pending blocking read, then the host disconnects: does the read return 0?
    const fd = fs.openSync(PORT, 'r+');
    const t0 = now();
    let result;
    fs.read(fd, Buffer.alloc(4096), 0, 4096, null, (error, n) => {
      result = { error: error && error.code, bytesRead: n, ms: +(now() - t0).toFixed(1) };
    });
    await sleep(1000);
    const pendingBeforeDisconnect = result === undefined;
    await ask('disconnect');
    const disconnectedAt = now() - t0;
    await waitHost(false);
    await sleep(500);
    record('N.fsRead.blocking.hostDisconnects', {
      pendingBeforeDisconnect,
      disconnectAskedMs: +disconnectedAt.toFixed(1),
      result,
    });
    // The same fd after the host has gone: reads return at once.
    const t1 = now();
    const n = fs.readSync(fd, Buffer.alloc(16));
    record('N.readSync.afterHostGone.sameFd', { bytesRead: n, ms: +(now() - t1).toFixed(1) });
    // ...and after the host returns, the same fd works again.
    await ask('connect');
    await waitHost(true);
    await ask('send', { data: 'after-reconnect\n' });
    const buf = Buffer.alloc(4096);
    const n2 = fs.readSync(fd, buf);
    fs.writeSync(fd, 'guest-reply\n');
    await sleep(300);
    const got = await ask('received');
    record('N.sameFd.afterReconnect', { read: buf.subarray(0, n2).toString().trim(), hostReceived: got.data });
    fs.closeSync(fd);
  }

  {
    // libuv stream (Pipe handle, epoll) with the host connected: data both ways, then disconnect.
    const fd = fs.openSync(PORT, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    const { socket } = pipeSocket(fd, { allowHalfOpen: true });
    const events = [];
    const t0 = now();
    socket.on('data', (d) => events.push(`data:${d.toString().trim()}@${(now() - t0).toFixed(1)}`));
    socket.on('end', () => events.push(`end@${(now() - t0).toFixed(1)}`));
    socket.on('error', (e) => events.push(`error:${e.code}`));
    socket.on('close', () => events.push(`close@${(now() - t0).toFixed(1)}`));
    await ask('send', { data: 'to-pipe\n' });
    socket.write('from-pipe\n');
    await sleep(500);
    const got = await ask('received');
    const disconnectAt = now() - t0;
    await ask('disconnect');
    await sleep(1000);
    const cpu0 = process.cpuUsage();
    await sleep(1000);
    const cpu = process.cpuUsage(cpu0);
    record('N.pipeHandle.host', {
      hostReceived: got.data,
      disconnectAskedMs: +disconnectAt.toFixed(1),
      events: [...events],
      cpuMsIn1000msAfterEnd: Math.round((cpu.user + cpu.system) / 1000),
      destroyed: socket.destroyed,
    });
    // After 'end' (half-open kept): does the handle see data when the host comes back?
    await ask('connect');
    await waitHost(true);
    await ask('send', { data: 'after-end\n' });
    await sleep(1000);
    record('N.pipeHandle.afterEnd.hostBack', { events: [...events] });
    socket.destroy();
    await sleep(200);
    // Reopen on the path: the data sent while nobody read is there.
    const fd2 = fs.openSync(PORT, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    const again = pipeSocket(fd2, { allowHalfOpen: true }).socket;
    const data = await Promise.race([
      new Promise((resolve) => again.once('data', (d) => resolve(d.toString().trim()))),
      sleep(2000).then(() => '(none within 2 s)'),
    ]);
    record('N.pipeHandle.reopen', { data });
    again.destroy();
    await ask('disconnect');
    await waitHost(false);
  }

  {
    // Reopen loop cost while no host: open, Pipe handle, EOF, close, every 100 ms vs immediately.
    const count = async (pauseMs, ms) => {
      const end = now() + ms;
      let eofs = 0;
      const cpu0 = process.cpuUsage();
      while (now() < end) {
        const fd = fs.openSync(PORT, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
        const { socket } = pipeSocket(fd, { allowHalfOpen: false });
        await Promise.race([
          new Promise((resolve) => socket.once('close', resolve).once('end', () => eofs++).resume()),
          sleep(1000).then(() => socket.destroy()),
        ]);
        if (pauseMs) await sleep(pauseMs);
      }
      const cpu = process.cpuUsage(cpu0);
      return { pauseMs, eofsPerSecond: Math.round(eofs / (ms / 1000)), cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / ms) * 100) };
    };
    record('N.pipeHandle.reopenLoop.noHost', [await count(0, 1000), await count(100, 1000)]);
  }

  // ================= libuv uv_poll (what a native fd watcher sees), host NOT connected
  const uvp = require('/opt/payload/uv-poll-probe.node');
  const countPoll = async (fd, events, ms, onEvent) => {
    let calls = 0;
    const seen = new Set();
    const cpu0 = process.cpuUsage();
    const w = uvp.watch(fd, events, (status, ev) => {
      calls++;
      seen.add(`status=${status},events=${ev}`);
      if (onEvent) onEvent(ev, w);
    });
    await sleep(ms);
    w.stop();
    const cpu = process.cpuUsage(cpu0);
    return { calls, seen: [...seen], cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / ms) * 100) };
  };
  const tryRead = (fd) => {
    try {
      return fs.readSync(fd, Buffer.alloc(4096));
    } catch (error) {
      return error.code;
    }
  };
  const tryWrite = (fd, data) => {
    try {
      return fs.writeSync(fd, data);
    } catch (error) {
      return error.code;
    }
  };
  record('uv.constants', { READABLE: uvp.READABLE, WRITABLE: uvp.WRITABLE, DISCONNECT: uvp.DISCONNECT });
  {
    const fd = fs.openSync(PORT, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    const reads = {};
    record('uv.readable.noHost.readEachTime', await countPoll(fd, uvp.READABLE, 500, () => {
      const r = tryRead(fd);
      reads[r] = (reads[r] || 0) + 1;
    }));
    record('uv.readable.noHost.readResults', reads);
    const writes = {};
    record('uv.writable.noHost.writeEachTime', await countPoll(fd, uvp.WRITABLE, 500, () => {
      const r = tryWrite(fd, 'x');
      writes[r] = (writes[r] || 0) + 1;
    }));
    record('uv.writable.noHost.writeResults', writes);
    record('uv.disconnectOnly.noHost', await countPoll(fd, uvp.DISCONNECT, 500));

    // qemu-ga's answer: on EOF stop watching, sleep 100 ms, watch again. Cost and latency:
    const t0 = now();
    let eofs = 0;
    let received;
    const cpu0 = process.cpuUsage();
    const watcher = uvp.watch(fd, uvp.READABLE, () => {
      const r = tryRead(fd);
      if (r === 0) {
        eofs++;
        watcher.update(0);
        setTimeout(() => watcher.update(uvp.READABLE), 100);
      } else if (typeof r === 'number' && received === undefined) {
        received = now();
      }
    });
    await sleep(2000);
    const cpu = process.cpuUsage(cpu0);
    await ask('connect');
    const sentAt = now();
    await ask('send', { data: 'wake\n' });
    await sleep(1000);
    watcher.stop();
    record('uv.backoff100ms', {
      eofsIn2s: eofs,
      cpuPercentWhileNoHost: Math.round(((cpu.user + cpu.system) / 1000 / 2000) * 100),
      dataReceivedMsAfterHostSend: received === undefined ? null : +(received - sentAt).toFixed(1),
    });

    // host connected and idle
    record('uv.readable.hostIdle', await countPoll(fd, uvp.READABLE, 500));
    record('uv.writable.hostIdle.noWrite', await countPoll(fd, uvp.WRITABLE, 200));
    // host sends, then disconnects, while watching READABLE (no reads: level-triggered?)
    await ask('send', { data: 'one\n', delayMs: 100 });
    const levelCount = await countPoll(fd, uvp.READABLE, 400);
    record('uv.readable.dataUnread.levelTriggered', levelCount);
    tryRead(fd);
    const events = [];
    const w = uvp.watch(fd, uvp.READABLE | uvp.DISCONNECT, (status, ev) => {
      const r = tryRead(fd);
      events.push(`events=${ev}:read=${r}@${Math.round(now() - t0)}`);
      if (r === 0) w.update(0);
    });
    await ask('disconnect');
    await sleep(500);
    w.stop();
    record('uv.readable.hostDisconnects', { events });
    fs.closeSync(fd);
  }

  {
    // Guest writes with the host connected but not reading: how much goes before EAGAIN?
    await ask('connect');
    await waitHost(true);
    await ask('pause');
    const fd = fs.openSync(PORT, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    const chunk = Buffer.alloc(65536, 0x61);
    let total = 0;
    let stop;
    const sizes = {};
    const t0 = now();
    while (total < 64 * 1024 * 1024) {
      try {
        const n = fs.writeSync(fd, chunk);
        sizes[n] = (sizes[n] || 0) + 1;
        total += n;
      } catch (error) {
        stop = error.code;
        break;
      }
    }
    const ms = now() - t0;
    record('K.writeUntilFull.hostPaused', { acceptedBytes: total, stoppedBy: stop ?? 'limit', ms: +ms.toFixed(1), bytesPerWriteOf65536: sizes });
    let writableAfterResume;
    const w = uvp.watch(fd, uvp.WRITABLE, () => {
      if (writableAfterResume === undefined) writableAfterResume = now();
      w.stop();
    });
    const resumeAt = now();
    await ask('resume');
    await sleep(1500);
    w.stop();
    const got = await ask('received', { lengthOnly: true });
    record('K.writeUntilFull.afterResume', {
      writableMsAfterResume: writableAfterResume === undefined ? null : +(writableAfterResume - resumeAt).toFixed(1),
      hostReceivedBytes: got.length,
    });
    fs.closeSync(fd);
    await ask('disconnect');
    await waitHost(false);
  }

  {
    // Guest data the host never read (host paused), then the host disconnects and a new host
    // connects: is the old data dropped or handed to the new connection?
    await ask('connect');
    await waitHost(true);
    await ask('pause');
    const fd = fs.openSync(PORT, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    let written = 0;
    const chunk = Buffer.alloc(8192, 0x62);
    for (let i = 0; i < 64; i++) {
      try {
        written += fs.writeSync(fd, chunk);
      } catch (error) {
        break;
      }
    }
    await sleep(300);
    await ask('disconnect');
    await waitHost(false);
    await ask('received', { lengthOnly: true });
    await ask('connect');
    await waitHost(true);
    await sleep(1000);
    const got = await ask('received', { lengthOnly: true });
    record('K.unreadGuestData.newHostConnection', { guestWroteBytes: written, newConnectionReceivedBytes: got.length });
    fs.closeSync(fd);
    await ask('disconnect');
    await waitHost(false);
  }

  {
    // process.exit() with a blocking read pending: does exit wait for the read to return?
    // The child says "exiting" right before process.exit(); the host sends data 3 s later.
    await ask('connect');
    await waitHost(true);
    const exitTimes = async (code) => {
      const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise((resolve) => child.on('exit', () => resolve(now())));
      const exitingAt = await Promise.race([
        new Promise((resolve) => child.stdout.once('data', () => resolve(now()))),
        exited.then(() => {
          throw new Error('child exited before saying "exiting"');
        }),
      ]);
      await ask('send', { data: 'release\n', delayMs: 3000 });
      const exitedAt = await exited;
      return { hostSendsMsAfterExitCall: 3000, exitedMsAfterExitCall: Math.round(exitedAt - exitingAt) };
    };
    record('N.processExit.pendingThreadpoolRead', await exitTimes(`
      const fs = require('fs');
      const fd = fs.openSync(${JSON.stringify(PORT)}, 'r+');
      fs.read(fd, Buffer.alloc(16), 0, 16, null, () => {});
      setTimeout(() => { process.stdout.write('exiting\\n'); process.exit(0); }, 500);
    `));
    record('N.processExit.workerBlockedInReadSync', await exitTimes(`
      const { Worker } = require('worker_threads');
      new Worker(${JSON.stringify(`const fs = require('fs'); fs.readSync(fs.openSync(${JSON.stringify(PORT)}, 'r+'), Buffer.alloc(16));`)}, { eval: true });
      setTimeout(() => { process.stdout.write('exiting\\n'); process.exit(0); }, 1500);
    `));
    await sleep(3500);
    await ask('received');
    await ask('disconnect');
    await waitHost(false);
  }

  {
    let ttyResult;
    const fd = fs.openSync(PORT, 'r+');
    try {
      const tty = require('node:tty');
      new tty.ReadStream(fd);
      ttyResult = { accepted: true };
    } catch (error) {
      ttyResult = { accepted: false, code: error.code, message: error.message };
    }
    record('N.ttyReadStream', ttyResult);
    fs.closeSync(fd);
  }
  record('warnings', warnings);

  record('done', { ok: true });
  await ask('done', { results });
  fs.writeFileSync('/tmp/poweroff', 'poweroff');
  process.exit(0);
}

main().catch((error) => {
  process.stdout.write(`PROBE failed ${JSON.stringify({ message: error.stack })}\n`);
  fs.writeFileSync('/tmp/poweroff', 'poweroff');
  process.exit(1);
});
