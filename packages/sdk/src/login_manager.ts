/**
 * @module LoginManager: the JCE provider's sign-in model for Node
 * (docs/jce.md "Signing in"; the Azure Cloud HSM authentication guide, "JCE authentication").
 *
 * One sign-in state per process — per worker thread in Node terms, since
 * each worker has its own module instances — obtained with
 * `LoginManager.getInstance()`:
 *
 * - **Explicit**: `login(partition, user, password)` signs in as a crypto
 *   user (CU); `logout()` signs out. Always wins over implicit credentials.
 * - **Implicit** (the guide's recommendation): when an operation needs a
 *   sign-in and there is none, the credentials of the environment are used
 *   (credentials.ts: `HSM_USER`/`HSM_PASSWORD`/`HSM_PARTITION`, then
 *   `azcloudhsm_password`).
 * - **Automatic re-authentication**: the manager keeps the credentials it
 *   signed in with (in memory only) and signs in again on every new
 *   connection to the daemon, before any request uses it — after the daemon
 *   restarts or the socket drops, as the JCE lineage's reconnect runner does
 *   by hand. Session keys do not survive (SessionKeyLostError).
 * - **Host-wide semantics, reported as they are** (docs/daemon.md, HOST mode,
 *   the default): the daemon holds one sign-in for the whole host. An
 *   application that has not signed in *inherits* another application's
 *   sign-in (`state().how === 'inherited'`); a sign-in as another user while
 *   one is active fails with `HostSessionConflictError` (0x104); a `logout()`
 *   by any application signs the whole host out, and the others hear of it
 *   (`loginChanged` notice). After such a foreign sign-out this manager does
 *   not sign in again behind the other application's back, except with
 *   implicit credentials, whose point is that the SDK manages sign-in itself.
 *   With `SESSION_MODE=APPLICATION` each application has its own sign-in and
 *   none of this applies.
 *
 * `partition` is kept for the JCE's signature: a cluster here serves one
 * partition (any non-empty name is accepted; the guides use `PARTITION_1`).
 */
import { EventEmitter } from 'node:events';
import { ConnectionLostError } from '../../protocol/src/connection.js';
import { HsmError, isHsmError } from '../../protocol/src/errors.js';
import type { NoticeOf } from '../../protocol/src/messages.js';
import { HsmClient, type HsmClientOptions, type RawCall } from './client.js';
import { implicitCredentials, type CredentialSource, type Credentials } from './credentials.js';
import { HostSessionConflictError, NotLoggedInError } from './errors.js';

/** How the current sign-in came about. */
export type SignInKind = 'explicit' | 'implicit' | 'inherited';

export interface LoginState {
  readonly loggedIn: boolean;
  readonly user?: string;
  readonly role?: string;
  /** explicit (login()), implicit (the environment), inherited (another application on this host signed in). */
  readonly how?: SignInKind;
  readonly partition?: string;
  /** For implicit sign-ins: which variables the credentials came from. */
  readonly source?: CredentialSource;
}

export interface LoginManagerOptions extends HsmClientOptions {
  /** Where implicit credentials come from (default: process.env). */
  readonly credentialsEnv?: NodeJS.ProcessEnv;
  /** Use implicit credentials (default true). */
  readonly implicit?: boolean;
  /** Use this client instead of making one. */
  readonly client?: HsmClient;
}

export interface LoginManagerEvents {
  /** The sign-in state changed (by us, by another application, or by a reconnection). */
  stateChanged: [state: LoginState];
  /** A new connection was signed in again with the kept credentials. */
  reauthenticated: [state: LoginState];
  /** Signing in again on a new connection failed; the state is signed out (or inherited). */
  reauthenticationFailed: [error: unknown];
}

interface Held extends Credentials {
  readonly how: 'explicit' | 'implicit';
}

const NOT_SIGNED_IN =
  'not signed in to the HSM: call LoginManager.getInstance().login(partition, user, password), or set HSM_USER and HSM_PASSWORD (or azcloudhsm_password="user:password") for implicit sign-in';

let instance: LoginManager | undefined;

export class LoginManager extends EventEmitter<LoginManagerEvents> {
  private readonly opts: LoginManagerOptions;
  private clientValue: HsmClient | undefined;
  private held: Held | undefined;
  private current: LoginState = { loggedIn: false };
  private lastSignOut: string | undefined;
  private implicitInFlight: Promise<void> | undefined;

  constructor(opts: LoginManagerOptions = {}) {
    super();
    this.opts = opts;
    if (opts.client) this.attach(opts.client);
  }

  /** The process-wide (per worker thread) manager, as the JCE's `LoginManager.getInstance()`. */
  static getInstance(): LoginManager {
    instance ??= new LoginManager();
    return instance;
  }

  /**
   * Replace the process-wide manager (for example with one built with options),
   * closing the old one's connection. Returns the new instance.
   */
  static setInstance(manager: LoginManager): LoginManager {
    if (instance && instance !== manager) instance.close();
    instance = manager;
    return manager;
  }

  /** The daemon client this manager signs in on (made on first use, from the options or the application cfg). */
  get client(): HsmClient {
    if (!this.clientValue) this.attach(new HsmClient(this.opts));
    return this.clientValue!;
  }

  /** The sign-in state as this application last learnt it (updated by the daemon's loginChanged notices). */
  state(): LoginState {
    return this.current;
  }

  /** True when this connection can use keys: signed in by us, or by another application of the host (inherited). */
  isLoggedIn(): boolean {
    return this.current.loggedIn;
  }

  /** Ask the daemon (connecting if needed) and return the fresh state. */
  async refresh(opts: { signal?: AbortSignal } = {}): Promise<LoginState> {
    const s = await this.client.request('loginStatus', {}, opts);
    this.fromStatus(s.loggedIn, s.user, s.role);
    return this.current;
  }

  /**
   * Sign in as the crypto user `user` (JCE `login(partition, user, password)`).
   * Throws HostSessionConflictError when the host is signed in as someone else
   * (HOST mode), the node's ERR_LOGIN_FAILED (0xA3) for a wrong user or
   * password, ERR_ACCOUNT_LOCKED (0xA4) for a locked account.
   */
  async login(partition: string, user: string, password: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    for (const [name, v] of [['partition', partition], ['user', user], ['password', password]] as const) {
      if (typeof v !== 'string' || v === '') throw new TypeError(`login: ${name} must be a non-empty string`);
    }
    if (this.held && this.current.loggedIn) {
      throw new HsmError('ERR_USER_ALREADY_LOGGED_IN', `already signed in as ${this.held.user} (${this.held.how}); call logout() first`);
    }
    await this.signIn({ partition, user, password, source: 'explicit', how: 'explicit' }, opts.signal);
  }

  /**
   * Sign out. In HOST mode this signs the whole host out, every application
   * with it (the authentication guide: the client "signs in and out of all HSM sessions
   * whenever any application performs a sign-in or sign-out").
   */
  async logout(opts: { signal?: AbortSignal } = {}): Promise<void> {
    const held = this.held;
    this.held = undefined; /* forget the credentials first: a reconnection during the call must not sign in again */
    try {
      await this.client.request('logout', {}, opts);
    } catch (e) {
      if (isHsmError(e, 'ERR_USER_NOT_LOGGED_IN')) {
        this.set({ loggedIn: false });
        if (held) return; /* the sign-in had already ended (another application signed the host out) */
        throw new NotLoggedInError('logout: nobody is signed in', { cause: e });
      }
      throw e;
    }
    this.lastSignOut = 'this application signed out';
    this.set({ loggedIn: false });
  }

  /**
   * Make sure an operation can run signed in. With implicit credentials in
   * the environment and no sign-in of our own, sign in with them — also when
   * the host is already signed in by another application: as the same user
   * this joins the host sign-in (so it lasts while we run), as another user
   * it is the HostSessionConflictError the credentials deserve, not a silent
   * run as someone else. Without credentials an inherited sign-in is used as
   * it is, and with none at all the operation reports NotLoggedInError.
   */
  async ensureLoggedIn(opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.client.connection(opts);
    if ((this.held && this.current.loggedIn) || this.opts.implicit === false) return;
    const creds = implicitCredentials(this.opts.credentialsEnv ?? process.env);
    /* Without credentials, an inherited sign-in is what there is. */
    if (!creds && this.current.loggedIn) return;
    if (!creds) return;
    this.implicitInFlight ??= this.signIn({ ...creds, how: 'implicit' }, opts.signal).finally(() => {
      this.implicitInFlight = undefined;
    });
    await this.implicitInFlight;
  }

  /** The error to raise when an operation was refused for want of a sign-in. */
  notLoggedIn(cause?: unknown): NotLoggedInError {
    return new NotLoggedInError(this.lastSignOut ? `${NOT_SIGNED_IN} (the sign-in ended: ${this.lastSignOut})` : NOT_SIGNED_IN, { cause });
  }

  /** Close the connection to the daemon (in HOST mode the host signs out if this was the last application holding the sign-in). */
  close(): void {
    this.held = undefined;
    this.clientValue?.close();
    this.set({ loggedIn: false });
  }

  /* ───────────── internals ───────────── */

  private attach(client: HsmClient): void {
    this.clientValue = client;
    client.addConnectionHook((call, info) => this.onConnection(call, info.reconnect));
    client.on('disconnected', () => this.set({ loggedIn: false }));
    client.on('loginChanged', (n) => this.onLoginChanged(n));
  }

  private async signIn(creds: Held, signal?: AbortSignal): Promise<void> {
    let r;
    try {
      r = await this.client.request('login', { user: creds.user, password: creds.password, role: 'CU' }, signal ? { signal } : {});
    } catch (e) {
      throw await this.loginError(e);
    }
    this.held = creds;
    this.lastSignOut = undefined;
    this.set({ loggedIn: true, user: r.user, role: r.role, how: creds.how, partition: creds.partition, ...(creds.how === 'implicit' ? { source: creds.source } : {}) });
  }

  /** Refine a refused login: the host-wide conflict gets its own class, with the user the host is signed in as. */
  private async loginError(e: unknown): Promise<unknown> {
    if (!isHsmError(e, 'ERR_USER_ANOTHER_ALREADY_LOGGED_IN')) return e;
    let active: string | undefined;
    try {
      const s = await this.client.request('loginStatus', {}, { retry: false });
      this.fromStatus(s.loggedIn, s.user, s.role);
      active = s.user;
    } catch {
      /* the message alone still says what happened */
    }
    return new HostSessionConflictError(e.message, active, { cause: e });
  }

  /** A new connection: sign in again with the kept credentials, or learn what we inherit. */
  private async onConnection(call: RawCall, reconnect: boolean): Promise<void> {
    const held = this.held;
    if (held) {
      try {
        const r = await call('login', { user: held.user, password: held.password, role: 'CU' });
        this.set({ loggedIn: true, user: r.user, role: r.role, how: held.how, partition: held.partition, ...(held.how === 'implicit' ? { source: held.source } : {}) });
        if (reconnect) this.emit('reauthenticated', this.current);
        return;
      } catch (e) {
        if (e instanceof ConnectionLostError) throw e;
        /* A wrong password now (changed by a CO) or a locked account: never try again by ourselves. */
        if (isHsmError(e, 'ERR_LOGIN_FAILED') || isHsmError(e, 'ERR_PIN_INCORRECT') || isHsmError(e, 'ERR_ACCOUNT_LOCKED')) this.held = undefined;
        this.lastSignOut = `signing in again after reconnecting failed: ${e instanceof Error ? e.message : String(e)}`;
        this.emit('reauthenticationFailed', isHsmError(e, 'ERR_USER_ANOTHER_ALREADY_LOGGED_IN') ? new HostSessionConflictError(e.message, undefined, { cause: e }) : e);
      }
    }
    const s = await call('loginStatus', {});
    this.fromStatus(s.loggedIn, s.user, s.role);
  }

  private onLoginChanged(n: NoticeOf<'loginChanged'>): void {
    if (n.loggedIn) {
      if (this.held && n.user === this.held.user) return; /* our own sign-in, or one we joined: the login answer sets the state */
      this.set({ loggedIn: true, how: 'inherited', ...(n.user ? { user: n.user } : {}), ...(n.role ? { role: n.role } : {}) });
      return;
    }
    if (this.current.loggedIn || this.held) this.lastSignOut = 'another application on this host signed out (HOST sign-in mode signs the whole host out)';
    /* A foreign sign-out ends our sign-in too: forget the credentials, so that only implicit sign-in (by design) signs in again. */
    this.held = undefined;
    this.set({ loggedIn: false });
  }

  private fromStatus(loggedIn: boolean, user: string | undefined, role: string | undefined): void {
    if (!loggedIn) {
      this.set({ loggedIn: false });
      return;
    }
    const mine = this.held !== undefined && this.held.user === user;
    this.set({
      loggedIn: true,
      ...(user ? { user } : {}),
      ...(role ? { role } : {}),
      how: mine ? this.held!.how : 'inherited',
      ...(mine ? { partition: this.held!.partition } : {}),
    });
  }

  private set(s: LoginState): void {
    const before = this.current;
    this.current = Object.freeze({ ...s });
    if (before.loggedIn !== s.loggedIn || before.user !== s.user || before.how !== s.how) this.emit('stateChanged', this.current);
  }
}
