#!/usr/bin/env python3
"""Whole-agent cost per guest-sync, natively, with qemu-ga and qga-ts on the same kind of port.

Neither agent can be given a virtio-serial port outside a VM, but both treat a raw pty like one
(`-m virtio-serial -p <pty>`: open O_RDWR|O_NONBLOCK, poll, read, write). socat bridges a unix
socket (the host end, here) to a fresh pty for each agent. Two figures per agent:

  round trip   median of N sequential guest-sync round trips (socat's hop included, alike for both)
  instructions user-space instructions the agent process executes per request (callgrind: two
               runs with N and 2N requests, the difference over N cancels start-up), i.e. what
               QEMU's TCG has to translate and run in a guest; kernel work is not counted

Usage: bench/pty-round-trip.py [--n 2000] [--callgrind] -- AGENT ARGV...
  e.g. bench/pty-round-trip.py --callgrind -- /usr/sbin/qemu-ga
       bench/pty-round-trip.py --callgrind -- node --single-threaded --predictable bin/qga-ts
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time


def run_once(argv, n, wrap):
    d = tempfile.mkdtemp(prefix='qga-pty-')
    os.mkdir(f'{d}/state')
    sock = f'{d}/host.sock'
    socat = subprocess.Popen(['socat', f'UNIX-LISTEN:{sock}', f'PTY,raw,echo=0,link={d}/pty'])
    agent = None
    try:
        while not os.path.exists(sock):
            time.sleep(0.01)
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        while not os.path.exists(f'{d}/pty'):
            time.sleep(0.01)
        env = {'QGA_CONF': f'{d}/none.conf', 'PATH': os.environ['PATH']}
        # own process group: SIGTERM reaches the agent under strace too
        agent = subprocess.Popen(wrap(d) + argv + ['-m', 'virtio-serial', '-p', f'{d}/pty', '-t', f'{d}/state'],
                                 env=env, start_new_session=True,
                                 stderr=subprocess.DEVNULL if wrap(d) else None)
        # resynchronise as a host does until the agent (slow to start under valgrind) answers
        s.settimeout(1.0)
        got = b''
        while b'"return": 5}' not in got:
            s.sendall(b'\xff{"execute":"guest-sync-delimited","arguments":{"id":5}}')
            try:
                got += s.recv(4096)
            except socket.timeout:
                pass
        time.sleep(0.2)
        s.settimeout(0.05)
        try:
            while s.recv(4096):
                pass
        except socket.timeout:
            pass
        s.settimeout(None)
        times = []
        for i in range(n):
            req = b'{"execute":"guest-sync","arguments":{"id":%d}}' % (1732578000000 + i)
            t = time.perf_counter()
            s.sendall(req)
            buf = b''
            while not buf.endswith(b'\n'):
                buf += s.recv(4096)
            times.append(time.perf_counter() - t)
            if buf != b'{"return": %d}\n' % (1732578000000 + i):
                raise RuntimeError(f'unexpected reply {buf!r}')
        os.killpg(agent.pid, signal.SIGTERM)
        agent.wait(timeout=120)
        return d, times
    finally:
        if agent is not None and agent.poll() is None:
            os.killpg(agent.pid, signal.SIGKILL)
        socat.terminate()
        socat.wait()


def callgrind_total(argv, n, keep=None):
    out = {}

    def wrap(d):
        out['file'] = f'{d}/callgrind.out'
        return ['valgrind', '--tool=callgrind', f'--callgrind-out-file={d}/callgrind.out', '--smc-check=all-non-file']

    d, _ = run_once(argv, n, wrap)
    with open(out['file']) as f:
        total = int(re.search(r'^summary: (\d+)', f.read(), re.M).group(1))
    if keep:
        shutil.copy(out['file'], f'{keep}.{n}')
    shutil.rmtree(d, ignore_errors=True)
    return total


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--n', type=int, default=2000)
    p.add_argument('--callgrind', action='store_true')
    p.add_argument('--keep', help='keep the callgrind files as KEEP.<n>')
    p.add_argument('argv', nargs='+')
    a = p.parse_args()
    d, times = run_once(a.argv, a.n, lambda d: [])
    shutil.rmtree(d, ignore_errors=True)
    times.sort()
    print(f'round trip: median {statistics.median(times) * 1e6:.1f} us, p25 {times[len(times) // 4] * 1e6:.1f} us (n={a.n})')
    if a.callgrind:
        i1 = callgrind_total(a.argv, a.n, a.keep)
        i2 = callgrind_total(a.argv, 2 * a.n, a.keep)
        print(f'instructions/request: {(i2 - i1) / a.n:.0f} (callgrind, n={a.n} vs {2 * a.n})')


if __name__ == '__main__':
    main()
