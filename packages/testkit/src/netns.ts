/**
 * @module Simulated hosts: one Linux network namespace per host, joined to a
 * bridge in the root namespace by a veth pair.
 *
 *   root namespace:  bridge ochsm-<pid>b  10.77.<k>.254/24   (the daemon and the load run here)
 *   host i:          namespace ochsm-<pid>n<i>, eth0 = 10.77.<k>.<i>/24, lo up
 *
 * Every address is one this harness assigns to an interface it creates, in a
 * /24 that no route on the machine uses; nothing is sent anywhere else (no
 * default route inside the namespaces, no NAT, no forwarding).
 *
 * Teardown is always attempted: `destroy()` from a finally block, and the
 * same synchronous cleanup on process exit and on SIGINT/SIGTERM/SIGHUP.
 * Before building, `removeLeftovers()` deletes the namespaces and links of
 * earlier runs whose process is gone (a crashed or killed test). Creating a
 * namespace needs root (CAP_NET_ADMIN); when it fails, `create` throws an
 * error that says so, so the test fails rather than passing silently.
 */
import { execFileSync } from 'node:child_process';

/** Every namespace and link this harness makes is named ochsm-<pid><kind><i> (at most 15 characters, the kernel's limit). */
const PREFIX = 'ochsm-';

export interface Host {
  readonly index: number;
  readonly netns: string;
  readonly address: string;
  /** The root-namespace end of the host's veth (set it down to cut the host off). */
  readonly link: string;
}

function ip(args: string[], opts: { quiet?: boolean } = {}): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (e) {
    if (opts.quiet) return '';
    const err = (e as { stderr?: string }).stderr?.trim() ?? (e as Error).message;
    throw new Error(`ip ${args.join(' ')}: ${err}`);
  }
}

/** `tc`, in the root namespace or (with `prefix` = `ip netns exec <ns>`) inside one. */
function tc(prefix: string[], args: string[]): void {
  const argv = [...prefix, 'tc', ...args];
  try {
    execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (e) {
    const err = (e as { stderr?: Buffer }).stderr?.toString().trim() ?? (e as Error).message;
    throw new Error(`${argv.join(' ')}: ${err}`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILL every process in a namespace (so that deleting it frees it). Returns how many. */
export function killAllIn(netns: string): number {
  const pids = ip(['netns', 'pids', netns], { quiet: true }).split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  return pids.length;
}

/** Delete namespaces and links left by runs whose process no longer exists. Returns what was removed. */
export function removeLeftovers(): string[] {
  const removed: string[] = [];
  const mine = new RegExp(`^${PREFIX}(\\d+)[nbvp]\\d*$`);
  for (const line of ip(['netns', 'list'], { quiet: true }).split('\n')) {
    const name = line.trim().split(/\s+/)[0] ?? '';
    const m = mine.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    killAllIn(name);
    ip(['netns', 'del', name], { quiet: true });
    removed.push(name);
  }
  for (const line of ip(['-o', 'link', 'show'], { quiet: true }).split('\n')) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1] ?? '';
    const m = mine.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    ip(['link', 'del', name], { quiet: true });
    removed.push(name);
  }
  return removed;
}

/** A /24 under 10.77.0.0/16 that no address or route on this machine touches. */
function freeSubnet(): number {
  const used = ip(['-o', 'addr', 'show'], { quiet: true }) + ip(['route', 'show', 'table', 'all'], { quiet: true });
  for (let i = 0; i < 250; i++) {
    const k = ((process.pid + i) % 250) + 1;
    if (!used.includes(`10.77.${k}.`)) return k;
  }
  throw new Error('no free /24 under 10.77.0.0/16 for the test network');
}

export class HostNetwork {
  readonly hosts: Host[] = [];
  readonly bridge: string;
  readonly gateway: string;
  #destroyed = false;
  readonly #onExit = () => this.destroy();
  readonly #onSignal = (sig: NodeJS.Signals) => {
    this.destroy();
    process.kill(process.pid, sig);
  };

  private constructor(readonly subnet: number) {
    this.bridge = `${PREFIX}${process.pid}b`;
    this.gateway = `10.77.${subnet}.254`;
  }

  /** Build `count` hosts. Throws (after cleaning up) when namespaces cannot be created. */
  static create(count: number): HostNetwork {
    if (process.platform !== 'linux') throw new Error('network namespaces need Linux');
    removeLeftovers();
    const net = new HostNetwork(freeSubnet());
    process.once('exit', net.#onExit);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, net.#onSignal);
    try {
      net.#build(count);
    } catch (e) {
      net.destroy();
      throw new Error(`cannot build the simulated hosts (network namespaces need root with CAP_NET_ADMIN): ${(e as Error).message}`);
    }
    return net;
  }

  #build(count: number): void {
    ip(['link', 'add', this.bridge, 'type', 'bridge']);
    ip(['addr', 'add', `${this.gateway}/24`, 'dev', this.bridge]);
    ip(['link', 'set', this.bridge, 'up']);
    for (let i = 1; i <= count; i++) {
      const netns = `${PREFIX}${process.pid}n${i}`;
      const link = `${PREFIX}${process.pid}v${i}`;
      const peer = `${PREFIX}${process.pid}p${i}`;
      const address = `10.77.${this.subnet}.${i}`;
      ip(['netns', 'add', netns]);
      this.hosts.push({ index: i, netns, address, link });
      ip(['link', 'add', link, 'type', 'veth', 'peer', 'name', peer]);
      ip(['link', 'set', peer, 'netns', netns]);
      ip(['link', 'set', link, 'master', this.bridge]);
      ip(['link', 'set', link, 'up']);
      ip(['-n', netns, 'link', 'set', 'lo', 'up']);
      ip(['-n', netns, 'link', 'set', peer, 'name', 'eth0']);
      ip(['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
    }
  }

  host(i: number): Host {
    const h = this.hosts.find((x) => x.index === i);
    if (!h) throw new Error(`no host ${i}`);
    return h;
  }

  /** The command prefix that runs a program on host i. */
  exec(i: number): string[] {
    return ['ip', 'netns', 'exec', this.host(i).netns];
  }

  /** SIGKILL every process of host i (its etcd member, its node, anything else). */
  killHost(i: number): number {
    return killAllIn(this.host(i).netns);
  }

  /** Cut host i off the network (link down on the bridge side), or reconnect it. */
  setLink(i: number, up: boolean): void {
    ip(['link', 'set', this.host(i).link, up ? 'up' : 'down']);
  }

  /**
   * Starve host i's TCP traffic on `port`, both ways (sent at 8 bit/s, so
   * nothing gets through in practice), while everything else flows; or lift
   * that. Outgoing on the host's eth0, incoming on the bridge end of its
   * veth. With the etcd peer port, host i's member is cut off from the other
   * members while every client still reaches it and it still reaches their
   * client ports. (HTB and u32 only: this kernel has no tc drop action.)
   */
  starvePort(i: number, port: number, starved: boolean): void {
    const h = this.host(i);
    const sides: [string[], string][] = [[['ip', 'netns', 'exec', h.netns], 'eth0'], [[], h.link]];
    for (const [prefix, dev] of sides) {
      const run = (args: string[]) => tc(prefix, args);
      if (!starved) {
        run(['qdisc', 'del', 'dev', dev, 'root']);
        continue;
      }
      run(['qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '10']);
      run(['class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit']);
      run(['class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:20', 'htb', 'rate', '8bit', 'ceil', '8bit']);
      for (const dir of ['dport', 'sport']) {
        run(['filter', 'add', 'dev', dev, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', dir, String(port), '0xffff', 'classid', '1:20']);
      }
    }
  }

  /** Kill everything in the namespaces and delete them, the veths and the bridge. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    process.removeListener('exit', this.#onExit);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeListener(sig, this.#onSignal);
    for (const h of this.hosts) {
      killAllIn(h.netns);
      ip(['link', 'del', h.link], { quiet: true });
      ip(['netns', 'del', h.netns], { quiet: true });
    }
    ip(['link', 'del', this.bridge], { quiet: true });
  }

  /** What of this network still exists (for the test's own check that teardown worked). */
  leftovers(): string[] {
    const names = [...this.hosts.map((h) => h.netns)];
    const ns = ip(['netns', 'list'], { quiet: true });
    const links = ip(['-o', 'link', 'show'], { quiet: true });
    return [
      ...names.filter((n) => ns.split('\n').some((l) => l.trim().split(/\s+/)[0] === n)),
      ...[this.bridge, ...this.hosts.map((h) => h.link)].filter((l) => new RegExp(`^\\d+:\\s+${l}[:@]`, 'm').test(links)),
    ];
  }
}
