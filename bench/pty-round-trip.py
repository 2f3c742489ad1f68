#!/usr/bin/env python3
"""Whole-agent cost per guest-sync, natively, with qemu-ga and qga-ts on the same kind of port.

Neither agent can be given a virtio-serial port outside a VM, but both treat a raw pty like one
(`-m virtio-serial -p <pty>`: open O_RDWR|O_NONBLOCK, poll, read, write). socat bridges a unix
socket (the host end, here) to a fresh pty for each agent. Two figures per agent:

  round trip   median of N sequential guest-sync round trips (socat's hop included, alike for both)
  instructions user-space instructions the agent process executes per request (callgrind: two
               runs with N and 2N requests, the difference over N cancels start-up), i.e. what
               QEMU's TCG has to translate and run in a guest; kernel work is not counted

Usage: bench/pty-round-trip.py [--n 2000] [--from START] [--callgrind] -- AGENT ARGV...
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


def late_reply(line):
    return line.startswith(b'\xff') or b"stray '\\uFFFD'" in line


def run_once(argv, n, wrap, rss_out=None):
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
        env = {'QGA_CONF': f'{d}/none.conf', 'PATH': os.environ['PATH'],
               **{k: v for k, v in os.environ.items() if k.startswith('QGA_TS_')}}
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
            while not buf.endswith(b'\n') or late_reply(buf):
                if buf.endswith(b'\n'):
                    buf = b''  # a late answer to the resynchronisation above
                buf += s.recv(4096)
            times.append(time.perf_counter() - t)
            if buf != b'{"return": %d}\n' % (1732578000000 + i):
                raise RuntimeError(f'unexpected reply {buf!r}')
        if rss_out is not None:
            with open(f'/proc/{agent.pid}/status') as f:
                rss_out.append(int(re.search(r'^VmRSS:\s+(\d+) kB', f.read(), re.M).group(1)))
        # qemu-ga under valgrind now and then misses a SIGTERM: ask again until it is gone
        for _ in range(24):
            os.killpg(agent.pid, signal.SIGTERM)
            try:
                agent.wait(timeout=5)
                break
            except subprocess.TimeoutExpired:
                pass
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

    for _attempt in range(3):
        d, _ = run_once(argv, n, wrap)
        with open(out['file']) as f:
            summary = re.search(r'^summary: (\d+)', f.read(), re.M)
        if summary:
            break
        # valgrind killed before it wrote its summary (see the SIGTERM loop): run again
        shutil.rmtree(d, ignore_errors=True)
    else:
        raise RuntimeError('callgrind wrote no summary in three attempts')
    total = int(summary.group(1))
    if keep:
        shutil.copy(out['file'], f'{keep}.{n}')
    shutil.rmtree(d, ignore_errors=True)
    return total


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--n', type=int, default=2000)
    p.add_argument('--callgrind', action='store_true')
    p.add_argument('--from', dest='start', type=int,
                   help='count requests START+1..START+N (callgrind runs of START and START+N requests; '
                        'default START=N). A small START measures the cold code a fresh agent runs, '
                        'e.g. --from 20 --n 300 as test/vm/agent.test.ts')
    p.add_argument('--keep', help='keep the callgrind files as KEEP.<n>')
    p.add_argument('argv', nargs='+')
    a = p.parse_args()
    rss = []
    d, times = run_once(a.argv, a.n, lambda d: [], rss)
    shutil.rmtree(d, ignore_errors=True)
    times.sort()
    print(f'round trip: median {statistics.median(times) * 1e6:.1f} us, p25 {times[len(times) // 4] * 1e6:.1f} us (n={a.n}); '
          f'agent RSS after them {rss[0] / 1024:.1f} MiB')
    if a.callgrind:
        start = a.n if a.start is None else a.start
        i1 = callgrind_total(a.argv, start, a.keep)
        i2 = callgrind_total(a.argv, start + a.n, a.keep)
        print(f'instructions/request: {(i2 - i1) / a.n:.0f} (callgrind, requests {start + 1}..{start + a.n})')


if __name__ == '__main__':
    main()
