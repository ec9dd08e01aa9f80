/**
 * @module The daemon's sign-in state (the Azure Cloud HSM authentication guide, "Cloud HSM client
 * session handling"; docs/decisions.md; docs/daemon.md "Sign-in modes").
 *
 * On the cluster leg a sign-in belongs to one TLS connection, so "the host is
 * signed in" means "every link of the host's pool has sent `login` on its
 * current connection". `SignIn` keeps one set of credentials applied to one
 * pool: it signs in on one link first (a wrong password costs one failed
 * attempt, not one per node, so the cluster-wide lockout counter is not
 * spent three times faster), then on the others; a link that connects later
 * signs in before it serves (`prepare`); a sign-out signs every link out, and
 * a link that cannot confirm its sign-out is dropped, so no connection keeps
 * a stale sign-in. The password is kept in memory only, never logged, and
 * overwritten on sign-out.
 *
 * Two policies sit on top:
 *  - HOST (default): one host-wide sign-in. The first application's login
 *    signs the host in; every other application inherits it; a second login
 *    with the same user (and a password that a real login on a spare
 *    connection accepts) joins it; another user is refused with
 *    ERR_USER_ANOTHER_ALREADY_LOGGED_IN; a logout by any application signs the
 *    host out. Every application hears of each change (loginChanged notice).
 *  - APPLICATION: each application's login opens its own links and signs them
 *    in; its logout or disconnect closes them. Applications without a login
 *    use the host's anonymous links.
 *
 * In both, a logout first tells one signed-in node which sessions stay open
 * (`logout` with `sessions`): the node unbinds those bound to the user, so
 * that after C_Logout and C_Login as another user the application's open
 * sessions serve the new user, as PKCS#11 has it (docs/pkcs11.md "Sessions and session objects").
 *
 * A sign-out never waits on a dead or cut-off node for long: the release goes
 * only over a link that is up and signed in, and every request of a sign-out
 * (the release and each link's `logout`) has the short sign-out bound
 * (`signOutTimeoutMs`, the health-check timeout) instead of the request
 * timeout; a link that does not answer in time is dropped, so it reconnects
 * signed out. The application's answer waits for that bound at most.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { HsmError, isHsmError } from '../../protocol/src/errors.js';
import type { NoticeOf, ResponseOf } from '../../protocol/src/messages.js';
import type { SessionMode } from './config.js';
import type { Logger } from './log.js';
import { isTransient, noNodeError, type LinkLike, type LinkPoolLike } from './nodes.js';

/** Where a request may go: the links of one pool that are ready for one sign-in state. */
export interface RouteContext {
  readonly name: string;
  readonly pool: LinkPoolLike;
  ready(link: LinkLike): boolean;
}

export interface LoginTimeouts {
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** The bound of each request of a sign-out (default: requestTimeoutMs). */
  readonly signOutTimeoutMs?: number;
}

/** The most sessions one `logout` names (the protocol's bound on the list). */
export const RELEASE_MAX = 4096;

interface Current {
  readonly gen: number;
  readonly user: string;
  readonly role: string;
  password: Buffer;
}

/* Sign-in generations are unique across pools, so a link can never mistake one sign-in for another. */
let lastGen = 0;
const nextGen = () => ++lastGen;

export const anotherUserMessage = (user: string) =>
  `an active session is already open for ${user} on this host (signed in by another application); sign out there first (logoutHSM / C_Logout), or run the daemon with SESSION_MODE=APPLICATION`;

function samePassword(a: Buffer, b: string): boolean {
  /* Hash first so that the comparison takes the same time whatever the lengths. */
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

/** One set of credentials applied to the links of one pool. */
export class SignIn implements RouteContext {
  readonly name: string;
  readonly pool: LinkPoolLike;
  private readonly log: Logger;
  private readonly timeouts: () => LoginTimeouts;
  private current: Current | undefined;
  private readonly chains = new WeakMap<LinkLike, Promise<void>>();
  /** `epoch:gen` of a connection on which the node refused the kept credentials: not retried on it. */
  private readonly refused = new WeakMap<LinkLike, string>();
  private readonly unsubscribe: () => void;

  constructor(name: string, pool: LinkPoolLike, log: Logger, timeouts: () => LoginTimeouts) {
    this.name = name;
    this.pool = pool;
    this.log = log;
    this.timeouts = timeouts;
    pool.prepare = (link) => this.sync(link, true);
    /* A link that came up (or changed) while a sign-in or sign-out was under way is brought in line. */
    this.unsubscribe = pool.onLinkChange((link) => {
      if (link.state === 'up' && link.authGen !== this.gen && this.refused.get(link) !== `${link.epoch}:${this.gen}`) void this.sync(link, false).catch(() => undefined);
    });
  }

  get gen(): number {
    return this.current?.gen ?? 0;
  }
  get signedIn(): boolean {
    return this.current !== undefined;
  }
  get user(): string | undefined {
    return this.current?.user;
  }
  get role(): string | undefined {
    return this.current?.role;
  }

  ready(link: LinkLike): boolean {
    return link.state === 'up' && link.authGen === this.gen;
  }

  /**
   * Sign in on one up link, then on all the others. Errors of the node
   * (ERR_LOGIN_FAILED 0xA3, ERR_ACCOUNT_LOCKED 0xA4, ...) are returned as they are.
   */
  async signIn(user: string, password: string, role: string | undefined): Promise<ResponseOf<'login'>> {
    if (this.current) throw new HsmError('ERR_USER_ALREADY_LOGGED_IN', `already signed in as ${this.current.user}; sign out first`);
    const t = this.timeouts();
    let ups = this.pool.links().filter((l) => l.state === 'up');
    if (ups.length === 0 && this.pool.starting()) {
      await this.pool.waitFor((l) => l.state === 'up', t.connectTimeoutMs);
      ups = this.pool.links().filter((l) => l.state === 'up');
    }
    if (ups.length === 0) throw noNodeError();
    const gen = nextGen();
    let result: ResponseOf<'login'> | undefined;
    let last: unknown;
    for (const link of ups) {
      if (link.state !== 'up') continue;
      const epoch = link.epoch;
      try {
        result = await link.request('login', { user, password, ...(role ? { role } : {}) }, t.requestTimeoutMs);
      } catch (e) {
        if (isTransient(e)) {
          last = e;
          continue;
        }
        throw e;
      }
      this.current = { gen, user: result.user, role: result.role, password: Buffer.from(password, 'utf8') };
      link.setAuthGen(gen, epoch);
      break;
    }
    if (!result) throw noNodeError(last);
    this.log.info('signed in', { pool: this.pool.name, user: result.user, role: result.role });
    /* The other nodes, so that load balancing starts at once; a slow node does not hold the answer up for long (it joins when done). */
    const rest = Promise.all(this.pool.links().filter((l) => l.state === 'up' && l.authGen !== gen).map((l) => this.sync(l, false).catch(() => undefined)));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([rest, new Promise<void>((r) => (timer = setTimeout(r, t.connectTimeoutMs)))]);
    clearTimeout(timer);
    return result;
  }

  /**
   * Forget the credentials (no request is sent signed in after this point),
   * release `sessions` (see `release`), then sign every link out.
   */
  async signOut(sessions: readonly number[] = []): Promise<void> {
    const cur = this.current;
    if (!cur) return;
    this.current = undefined;
    cur.password.fill(0);
    this.log.info('signed out', { pool: this.pool.name, user: cur.user });
    if (sessions.length > 0) await this.releaseOn(cur.gen, cur.user, sessions);
    await Promise.all(this.pool.links().filter((l) => l.authGen !== 0).map((l) => this.sync(l, false).catch(() => undefined)));
  }

  /**
   * Unbind `sessions` from the signed-in user on one node (the binding is in
   * the cluster's store, so one node does it for all), before a sign-out. A
   * failure is logged, not thrown: the sign-out goes on, and a session left
   * bound answers its next user ERR_NOT_PERMITTED, as before the release.
   */
  release(sessions: readonly number[]): Promise<void> {
    const cur = this.current;
    return cur && sessions.length > 0 ? this.releaseOn(cur.gen, cur.user, sessions) : Promise.resolve();
  }

  /**
   * On one link that is up and still signed in with `gen`, in that link's
   * chain (so its sign-out comes after), with the sign-out bound. The node
   * signs the connection out with the release (`logout`); a link that does not
   * answer in time is dropped.
   */
  private releaseOn(gen: number, user: string, sessions: readonly number[]): Promise<void> {
    const link = this.pool.links().find((l) => l.state === 'up' && l.authGen === gen);
    if (!link) {
      this.log.warn('no node is up to release the sessions of a sign-out; they stay bound to the user', { pool: this.pool.name, user, sessions: sessions.length });
      return Promise.resolve();
    }
    if (sessions.length > RELEASE_MAX) this.log.warn('a sign-out names more sessions than one logout carries; the rest stay bound to the user', { pool: this.pool.name, sessions: sessions.length, max: RELEASE_MAX });
    return this.chain(link, async () => {
      if (link.state !== 'up' || link.authGen !== gen) return;
      const epoch = link.epoch;
      try {
        await link.request('logout', { sessions: sessions.slice(0, RELEASE_MAX) }, this.signOutTimeout());
        /* Signed out with it; while the sign-in is still kept (APPLICATION mode drops the links next) the link stays as it is. */
        if (this.gen !== gen) link.setAuthGen(0, epoch);
      } catch (e) {
        this.log.warn('could not release the sessions of a sign-out; they stay bound to the user', { pool: this.pool.name, node: link.name, error: e instanceof Error ? e.message : String(e) });
        if (isTransient(e)) link.reset(`no answer to the sign-out in time: ${(e as Error).message}`);
      }
    });
  }

  private signOutTimeout(): number {
    const t = this.timeouts();
    return t.signOutTimeoutMs ?? t.requestTimeoutMs;
  }

  /** The kept password, replaced after a join proved that the user's password has changed. */
  refreshPassword(password: string): void {
    if (this.current && !samePassword(this.current.password, password)) {
      this.current.password.fill(0);
      this.current.password = Buffer.from(password, 'utf8');
    }
  }

  dispose(): void {
    this.unsubscribe();
    if (this.current) this.current.password.fill(0);
    this.current = undefined;
  }

  /** Bring one link's sign-in in line with the current state; serialized per link. */
  sync(link: LinkLike, strict: boolean): Promise<void> {
    return this.chain(link, () => this.syncOnce(link, strict));
  }

  /** Run `step` after every step queued before on this link. */
  private chain(link: LinkLike, step: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(link) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(step);
    this.chains.set(link, next);
    return next;
  }

  /**
   * strict (while the link prepares): a connection failure is thrown, so the
   * link reconnects. Otherwise a link that fails is dropped (it reconnects and
   * prepares again), so that no connection is left half signed in.
   */
  private async syncOnce(link: LinkLike, strict: boolean): Promise<void> {
    const t = this.timeouts();
    for (let round = 0; round < 4; round++) {
      const cur = this.current;
      const target = cur?.gen ?? 0;
      if (link.authGen === target) return;
      const epoch = link.epoch;
      if (cur && this.refused.get(link) === `${epoch}:${target}`) return;
      try {
        if (!cur) {
          await link.request('logout', {}, t.signOutTimeoutMs ?? t.requestTimeoutMs);
          link.setAuthGen(0, epoch);
        } else {
          await link.request('login', { user: cur.user, password: cur.password.toString('utf8'), role: cur.role }, t.requestTimeoutMs);
          link.setAuthGen(target, epoch);
        }
      } catch (e) {
        /* A node that is behind (it could not catch up, or reach a quorum of its store) checked
         * nothing and wrote nothing: like a lost connection, try again on a new one (with the
         * link's reconnect backoff) rather than leave this one unable to serve signed-in requests. */
        if (isTransient(e) || isHsmError(e, 'ERR_NODE_BEHIND')) {
          if (strict) throw e;
          link.reset(`could not ${cur ? 'sign in' : 'sign out'}: ${(e as Error).message}`);
          return;
        }
        if (!cur) {
          if (e instanceof HsmError && e.code === 'ERR_USER_NOT_LOGGED_IN') link.setAuthGen(0, epoch);
          else link.reset(`the node did not confirm the sign-out: ${(e as Error).message}`);
          return;
        }
        /* Not retried on this connection: each attempt would count towards the user's lockout. */
        this.refused.set(link, `${epoch}:${target}`);
        this.log.warn('a node refused the kept credentials; the link serves no signed-in request until it reconnects', {
          node: link.name, pool: this.pool.name, user: cur.user, code: e instanceof HsmError ? e.code : undefined,
        });
        return;
      }
    }
  }
}

/* ─────────────────────────────── the two policies ─────────────────────────────── */

/** One connected application, as the sign-in logic sees it. */
export interface AppHandle {
  readonly id: number;
  /** The sessions the application has open (they outlive its sign-out). */
  readonly sessions?: ReadonlySet<number>;
  notifyLogin(state: NoticeOf<'loginChanged'>): void;
}

export interface LoginManager {
  readonly mode: SessionMode;
  login(app: AppHandle, user: string, password: string, role: string | undefined): Promise<ResponseOf<'login'>>;
  logout(app: AppHandle): Promise<void>;
  status(app: AppHandle): ResponseOf<'loginStatus'>;
  /** The links an application's requests go to. */
  contextFor(app: AppHandle): RouteContext;
  /** Every context with its own links (for status and in-flight counts). */
  pools(): readonly LinkPoolLike[];
  /**
   * Called at once (synchronously) when an application's connection closes,
   * before its cleanup (closing its cluster sessions) runs; `disconnected`
   * follows when the cleanup is done.
   */
  departing(app: AppHandle): void;
  disconnected(app: AppHandle): Promise<void>;
  close(): Promise<void>;
}

/** Run one task at a time. */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(task: () => Promise<T>): Promise<T> {
    const p = this.tail.catch(() => undefined).then(task);
    this.tail = p;
    return p;
  }
}

const alreadyMessage = (user: string) => `this application is already signed in as ${user}; sign out first (logoutHSM / C_Logout)`;

export class HostLogin implements LoginManager {
  readonly mode = 'HOST' as const;
  readonly signIn: SignIn;
  private readonly apps: () => Iterable<AppHandle>;
  private readonly log: Logger;
  private readonly serial = new Serial();
  /** The applications that signed in (the first) or joined with the same user. */
  private readonly holders = new Set<number>();
  private signer: number | undefined;
  /**
   * The last holder has gone and the host sign-in is ending: from that moment
   * `loginStatus` answers signed out and a new `login` waits for the sign-out
   * and then signs in afresh. (Before, the sign-in looked alive until the
   * departed application's sessions were closed, so a tool that started in
   * that window saw itself signed in, skipped C_Login, and was signed out
   * under its feet.)
   */
  private ending: { app: number; done: Promise<void>; resolve: () => void } | undefined;

  constructor(pool: LinkPoolLike, apps: () => Iterable<AppHandle>, log: Logger, timeouts: () => LoginTimeouts) {
    this.signIn = new SignIn('host', pool, log, timeouts);
    this.apps = apps;
    this.log = log;
  }

  get signerId(): number | undefined {
    return this.signer;
  }

  private broadcast(state: NoticeOf<'loginChanged'>): void {
    for (const a of this.apps()) {
      try {
        a.notifyLogin(state);
      } catch {
        /* a connection that is going away */
      }
    }
  }

  login(app: AppHandle, user: string, password: string, role: string | undefined): Promise<ResponseOf<'login'>> {
    const ending = this.ending?.done ?? Promise.resolve();
    return ending.then(() => this.serial.run(async () => {
      const s = this.signIn;
      if (s.signedIn) {
        const curUser = s.user!;
        const curRole = s.role!;
        if (this.holders.has(app.id)) throw new HsmError('ERR_USER_ALREADY_LOGGED_IN', alreadyMessage(curUser));
        if (user !== curUser || (role !== undefined && role !== '' && role !== curRole)) {
          this.log.warn('sign-in refused: another user is signed in on this host', { app: app.id, user, signedIn: curUser });
          throw new HsmError('ERR_USER_ANOTHER_ALREADY_LOGGED_IN', anotherUserMessage(curUser));
        }
        /* Same user: the password must be right, checked by a real login (it counts towards lockout like any other). */
        await s.pool.verifyLogin(user, password, role || undefined);
        if (!s.signedIn || s.user !== curUser) throw new HsmError('ERR_USER_NOT_LOGGED_IN', 'the host was signed out while the password was being checked; sign in again');
        s.refreshPassword(password);
        this.holders.add(app.id);
        this.log.info('an application joined the host sign-in', { app: app.id, user: curUser });
        return { user: curUser, role: curRole };
      }
      const r = await s.signIn(user, password, role || undefined);
      this.signer = app.id;
      this.holders.clear();
      this.holders.add(app.id);
      this.log.info('the host is signed in', { app: app.id, user: r.user, role: r.role });
      this.broadcast({ loggedIn: true, user: r.user, role: r.role });
      return r;
    }));
  }

  logout(app: AppHandle): Promise<void> {
    return this.serial.run(async () => {
      if (!this.signIn.signedIn || this.ending) throw new HsmError('ERR_USER_NOT_LOGGED_IN', 'nobody is signed in on this host');
      this.log.info('an application signs the host out', { app: app.id, user: this.signIn.user });
      /* Every application shared the sign-in, so every application's open sessions are released. */
      const open = new Set<number>();
      for (const a of this.apps()) for (const s of a.sessions ?? []) open.add(s);
      for (const s of app.sessions ?? []) open.add(s);
      await this.endSignIn(true, [...open]);
    });
  }

  private async endSignIn(announce = true, sessions: readonly number[] = []): Promise<void> {
    this.holders.clear();
    this.signer = undefined;
    await this.signIn.signOut(sessions);
    if (announce) this.broadcast({ loggedIn: false });
  }

  status(): ResponseOf<'loginStatus'> {
    const s = this.signIn;
    return s.signedIn && !this.ending ? { loggedIn: true, user: s.user, role: s.role } : { loggedIn: false };
  }

  contextFor(): RouteContext {
    return this.signIn;
  }

  pools(): readonly LinkPoolLike[] {
    return [this.signIn.pool];
  }

  /**
   * An application went away. When the last application that signed in (or
   * joined) is gone, nobody holds the sign-in any more: the host signs out,
   * so that a crashed program never leaves the host signed in for anyone.
   * The decision is taken here, at the moment the connection closes; the
   * sign-out itself runs in `disconnected`, after the departed application's
   * sessions are closed (closing them may need the sign-in).
   */
  departing(app: AppHandle): void {
    if (!this.holders.delete(app.id)) return;
    if (this.signer === app.id) this.signer = this.holders.values().next().value;
    if (this.holders.size === 0 && this.signIn.signedIn && !this.ending) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      this.ending = { app: app.id, done, resolve };
      this.log.info('the last application that signed in has disconnected: the host signs out', { app: app.id });
      this.broadcast({ loggedIn: false });
    }
  }

  disconnected(app: AppHandle): Promise<void> {
    this.departing(app);
    return this.serial.run(async () => {
      const ending = this.ending;
      if (!ending || ending.app !== app.id) return;
      try {
        if (this.holders.size === 0) await this.endSignIn(false);
        /* An application that had asked to join before the departure joined meanwhile: the sign-in goes on. */
        else if (this.signIn.signedIn) this.broadcast({ loggedIn: true, user: this.signIn.user!, role: this.signIn.role! });
      } finally {
        this.ending = undefined;
        ending.resolve();
      }
    });
  }

  async close(): Promise<void> {
    await this.serial.run(async () => {
      this.holders.clear();
      await this.signIn.signOut().catch(() => undefined);
      this.signIn.dispose();
    });
  }
}

interface AppContext {
  readonly signIn: SignIn;
  readonly pool: LinkPoolLike;
}

export class ApplicationLogin implements LoginManager {
  readonly mode = 'APPLICATION' as const;
  /** The host's links, never signed in: for applications that have not signed in. */
  readonly anonymous: SignIn;
  private readonly makePool: (name: string) => LinkPoolLike;
  private readonly log: Logger;
  private readonly timeouts: () => LoginTimeouts;
  private readonly contexts = new Map<number, AppContext>();
  private readonly serials = new Map<number, Serial>();

  constructor(hostPool: LinkPoolLike, makePool: (name: string) => LinkPoolLike, log: Logger, timeouts: () => LoginTimeouts) {
    this.anonymous = new SignIn('anonymous', hostPool, log, timeouts);
    this.makePool = makePool;
    this.log = log;
    this.timeouts = timeouts;
  }

  private serial(app: AppHandle): Serial {
    let s = this.serials.get(app.id);
    if (!s) this.serials.set(app.id, (s = new Serial()));
    return s;
  }

  login(app: AppHandle, user: string, password: string, role: string | undefined): Promise<ResponseOf<'login'>> {
    return this.serial(app).run(async () => {
      const have = this.contexts.get(app.id);
      if (have?.signIn.signedIn) throw new HsmError('ERR_USER_ALREADY_LOGGED_IN', alreadyMessage(have.signIn.user!));
      const pool = this.makePool(`app-${app.id}`);
      const signIn = new SignIn(`app-${app.id}`, pool, this.log, this.timeouts);
      pool.start();
      try {
        const r = await signIn.signIn(user, password, role || undefined);
        this.contexts.set(app.id, { signIn, pool });
        this.log.info('an application signed in', { app: app.id, user: r.user, role: r.role });
        return r;
      } catch (e) {
        signIn.dispose();
        pool.close();
        throw e;
      }
    });
  }

  logout(app: AppHandle): Promise<void> {
    return this.serial(app).run(async () => {
      const ctx = this.contexts.get(app.id);
      if (!ctx) throw new HsmError('ERR_USER_NOT_LOGGED_IN', 'this application is not signed in');
      await ctx.signIn.release([...(app.sessions ?? [])]);
      await this.drop(app.id, ctx);
    });
  }

  /** Closing the application's links ends its sign-in on every node. */
  private async drop(id: number, ctx: AppContext): Promise<void> {
    this.contexts.delete(id);
    this.log.info('an application signed out', { app: id, user: ctx.signIn.user });
    ctx.signIn.dispose();
    ctx.pool.close();
  }

  status(app: AppHandle): ResponseOf<'loginStatus'> {
    const s = this.contexts.get(app.id)?.signIn;
    return s?.signedIn ? { loggedIn: true, user: s.user, role: s.role } : { loggedIn: false };
  }

  contextFor(app: AppHandle): RouteContext {
    const ctx = this.contexts.get(app.id);
    return ctx?.signIn.signedIn ? ctx.signIn : this.anonymous;
  }

  pools(): readonly LinkPoolLike[] {
    return [this.anonymous.pool, ...[...this.contexts.values()].map((c) => c.pool)];
  }

  departing(): void {
    /* Each application's sign-in is its own: nothing to decide early. */
  }

  async disconnected(app: AppHandle): Promise<void> {
    await this.serial(app).run(async () => {
      const ctx = this.contexts.get(app.id);
      if (ctx) await this.drop(app.id, ctx);
    });
    this.serials.delete(app.id);
  }

  async close(): Promise<void> {
    await Promise.all([...this.contexts.entries()].map(([id, ctx]) => this.drop(id, ctx)));
    this.anonymous.dispose();
  }
}
