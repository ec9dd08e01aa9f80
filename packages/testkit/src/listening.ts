/**
 * @module What a process listens on, from `ss` (iproute2): for the checks that
 * nothing listens beyond the configured addresses.
 */
import { execFileSync } from 'node:child_process';

/** Local TCP listening addresses ("127.0.0.1:2379") of process `pid`; `netns` runs ss inside that namespace. */
export function listeningAddresses(pid: number, netns?: string): string[] {
  const argv = [...(netns ? ['ip', 'netns', 'exec', netns] : []), 'ss', '-Hltnp'];
  const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  const addrs: string[] = [];
  for (const line of out.split('\n')) {
    if (!line.includes(`pid=${pid},`)) continue;
    const cols = line.trim().split(/\s+/);
    /* State Recv-Q Send-Q Local:Port Peer:Port Process */
    if (cols[3]) addrs.push(cols[3]);
  }
  return [...new Set(addrs)].sort();
}
