/**
 * The libvirt route, for VMs whose only agent channel is the one libvirt keeps connected
 * (org.qemu.guest_agent.0): each request is one `virsh qemu-agent-command DOMAIN JSON --timeout N`.
 * libvirt does the syncing on its own connection; virsh prints the agent's whole reply object.
 * libvirt reports agent errors on stderr inside its own message, so they are mapped back:
 * "...has not been found/has been disabled" → CommandNotFound, "not responding/not available"
 * → timeout, "not connected/not configured" → connection.
 *
 * Also: reading a domain's XML for its agent channels (which socket is the monitoring port).
 */
import { execFile } from 'node:child_process';
import { encodeJson } from '../protocol/json-writer';
import { isJsonObject, type JsonObject } from '../protocol/json-value';
import type { AgentRoute, ExchangeOptions } from './agent-route';
import { parseJsonText } from './json-text';
import { QgaAbortedError, QgaConnectionError, QgaProtocolError, QgaTimeoutError } from './client-errors';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** set when the program could not be started (ENOENT: virsh is not installed) */
  spawnError?: string;
}

/** Runs a program without a shell; injectable for tests. */
export type RunCommand = (argv: readonly string[], options: { timeoutMs: number; signal?: AbortSignal | undefined }) => Promise<CommandResult>;

export const runCommand: RunCommand = (argv, options) =>
  new Promise((resolve) => {
    execFile(
      argv[0]!,
      argv.slice(1),
      { timeout: options.timeoutMs, signal: options.signal, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: string | number }) | null;
        if (e && typeof e.code === 'string' && e.code !== 'ABORT_ERR') return resolve({ code: null, stdout, stderr, spawnError: e.code });
        resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout, stderr });
      },
    );
  });

export interface LibvirtOptions {
  /** the virsh binary (default `virsh`, found on PATH) */
  virsh?: string;
  /** libvirt connection URI, e.g. qemu:///system */
  uri?: string | undefined;
  run?: RunCommand;
  /** s the agent gets to stay silent for commands without success response (default 1) */
  noReplyWindowSeconds?: number;
}

export function virshArgv(opts: LibvirtOptions, ...args: string[]): string[] {
  return [opts.virsh ?? 'virsh', ...(opts.uri ? ['-c', opts.uri] : []), ...args];
}

/** libvirt's text of an agent error: "...unable to execute QEMU agent command 'x': <desc>" → desc */
function agentDesc(stderr: string): string {
  const line = stderr.split('\n').find((l) => l.startsWith('error:') && !l.startsWith('error: Failed to')) ?? stderr.trim();
  const m = /QEMU agent command '[^']*': (.*)$/.exec(line);
  return (m ? m[1]! : line.replace(/^error:\s*/, '')).trim();
}

export class LibvirtRoute implements AgentRoute {
  readonly target: string;
  private readonly run: RunCommand;

  constructor(readonly domain: string, private readonly opts: LibvirtOptions = {}) {
    this.target = `libvirt:${domain}`;
    this.run = opts.run ?? runCommand;
  }

  async exchange(request: JsonObject, options: ExchangeOptions): Promise<JsonObject | null> {
    const command = typeof request['execute'] === 'string' ? request['execute'] : 'request';
    const what = `${command} on ${this.target}`;
    if (options.signal?.aborted) throw new QgaAbortedError(what);
    const seconds = options.expectReply ? Math.max(1, Math.ceil(options.timeoutMs / 1000)) : Math.max(1, this.opts.noReplyWindowSeconds ?? 1);
    const argv = virshArgv(this.opts, 'qemu-agent-command', this.domain, encodeJson(request), '--timeout', String(seconds));
    const r = await this.run(argv, { timeoutMs: seconds * 1000 + 5000, signal: options.signal });
    if (options.signal?.aborted) throw new QgaAbortedError(what);
    if (r.spawnError) throw new QgaConnectionError(`${what}: cannot run ${argv[0]}: ${r.spawnError}`, r.spawnError);
    if (r.code === 0) {
      let reply;
      try {
        reply = parseJsonText(r.stdout.trim());
      } catch (e) {
        throw new QgaProtocolError(`${what}: virsh printed something that is not a reply: ${(e as Error).message}`);
      }
      if (!isJsonObject(reply)) throw new QgaProtocolError(`${what}: virsh printed something that is not a reply object`);
      return reply;
    }
    const desc = agentDesc(r.stderr);
    if (/not responding|not available for now|timed out|timeout/i.test(desc)) {
      if (!options.expectReply) return null;
      throw new QgaTimeoutError(what, 'reply', seconds * 1000, desc);
    }
    if (/has not been found|has been disabled/.test(desc)) {
      return { error: { class: 'CommandNotFound', desc } } as JsonObject;
    }
    if (/unable to execute QEMU agent command/.test(r.stderr)) {
      return { error: { class: 'GenericError', desc } } as JsonObject;
    }
    throw new QgaConnectionError(`${what}: ${desc || `virsh exited with ${r.code}`}`);
  }

  async close(): Promise<void> {
    // Nothing to close: every request was its own virsh process.
  }
}

export interface AgentChannel {
  /** the name the guest sees (org.qemu.guest_agent.0, com.163.spice.0, ...) */
  name: string;
  /** the host-side unix socket */
  path: string;
}

function attribute(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}\\s*=\\s*(?:'([^']*)'|"([^"]*)")`).exec(tag);
  if (!m) return undefined;
  return (m[1] ?? m[2] ?? '').replace(/&apos;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** The unix virtio channels of a domain's XML (`virsh dumpxml`), with their socket paths. */
export function parseAgentChannels(domainXml: string): AgentChannel[] {
  const out: AgentChannel[] = [];
  for (const m of domainXml.matchAll(/<channel\b([^>]*)>([\s\S]*?)<\/channel>/g)) {
    if (attribute(m[1]!, 'type') !== 'unix') continue;
    const source = /<source\b[^>]*>/.exec(m[2]!)?.[0];
    const target = /<target\b[^>]*>/.exec(m[2]!)?.[0];
    const path = source ? attribute(source, 'path') : undefined;
    const name = target ? attribute(target, 'name') : undefined;
    if (path && name && (!target || attribute(target, 'type') === 'virtio')) out.push({ name, path });
  }
  return out;
}

export const MONITOR_CHANNEL = 'com.163.spice.0';
export const LIBVIRT_AGENT_CHANNEL = 'org.qemu.guest_agent.0';

/** Where to reach a domain's agent: its dedicated channel's socket if it has one, else through libvirt. */
export async function resolveDomain(
  domain: string,
  opts: LibvirtOptions & { channel?: string | undefined },
): Promise<{ kind: 'socket'; path: string } | { kind: 'libvirt' }> {
  const run = opts.run ?? runCommand;
  const argv = virshArgv(opts, 'dumpxml', domain);
  const r = await run(argv, { timeoutMs: 15000 });
  if (r.spawnError) throw new QgaConnectionError(`cannot run ${argv[0]}: ${r.spawnError}`, r.spawnError);
  if (r.code !== 0) throw new QgaConnectionError(`virsh dumpxml ${domain}: ${agentDesc(r.stderr) || `exit ${r.code}`}`);
  const channels = parseAgentChannels(r.stdout);
  const wanted = opts.channel ?? MONITOR_CHANNEL;
  const own = channels.find((c) => c.name === wanted);
  if (own) return { kind: 'socket', path: own.path };
  if (opts.channel !== undefined && opts.channel !== LIBVIRT_AGENT_CHANNEL) {
    throw new QgaConnectionError(`domain ${domain} has no unix channel named ${opts.channel}`);
  }
  // libvirt holds org.qemu.guest_agent.0's socket itself; a QEMU chardev serves one client.
  if (channels.some((c) => c.name === LIBVIRT_AGENT_CHANNEL)) return { kind: 'libvirt' };
  throw new QgaConnectionError(`domain ${domain} has no guest agent channel (neither ${MONITOR_CHANNEL} nor ${LIBVIRT_AGENT_CHANNEL})`);
}
