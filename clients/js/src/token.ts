import type { Clock } from "./clock.js";
import type { Connection } from "./connection.js";
import { LifelineClosedError, LifelineDisconnectedError, LifelineError, LifelineRequestError, LifelineTokenError } from "./errors.js";
import { refreshDelayMs, type LifelineClientOptions, type TokenProvider, type TokenRequest } from "./options.js";
import { backoffWindowMs, DEFAULT_BASE_MS, DEFAULT_CAP_MS } from "./retry.js";
import { errorText } from "./util.js";

/** The longest delay timers take (2^31 - 1 ms); a longer wait is split, never fired early. */
const MAX_TIMER_MS = 2_147_483_647;

/** What the token refresh needs from the client. */
export interface TokenHost {
  readonly clock: Clock;
  readonly random: () => number;
  /** The connection or attempt in progress, if any. */
  current(): Connection | undefined;
  /** The state is open on a welcomed connection. */
  isOpen(): boolean;
  /** Sends `refresh` with the token on the current connection; the reply's `tokenExpiresInMs` or the failure comes back. */
  requestRefresh(token: string, onReply: (expiresInMs: number | undefined) => void, onFail: (error: LifelineError) => void): void;
  report(error: LifelineError): void;
}

/**
 * The token of a client: the fixed one, or the token function asked for each attempt and for each refresh, which is
 * scheduled from the expiry the server names (`welcome.tokenExpiresInMs`, the reply to a `refresh`) and retried with
 * backoff while the token is still valid. The refresh state lives on the {@link Connection}: a new connection starts
 * over.
 * @internal
 */
export class Tokens {
  private readonly option: string | TokenProvider | undefined;
  private readonly baseMs: number;
  private readonly capMs: number;

  constructor(options: LifelineClientOptions, private readonly host: TokenHost) {
    const token = options.token;
    if (token !== undefined && typeof token !== "string" && typeof token !== "function") {
      throw new TypeError("token must be a string or a function");
    }
    this.option = token;
    this.baseMs = options.reconnect?.baseMs ?? DEFAULT_BASE_MS;
    this.capMs = Math.max(this.baseMs, options.reconnect?.capMs ?? DEFAULT_CAP_MS);
  }

  /** The token function, when there is one: only it can make a fresh token (a refresh, or after a 4002). */
  get provider(): TokenProvider | undefined {
    return typeof this.option === "function" ? this.option : undefined;
  }

  /** The fixed token (none when there is a token function). */
  get fixed(): string | undefined {
    return typeof this.option === "function" ? undefined : this.option;
  }

  /**
   * Asks the token function; `done` and `fail` are called once, synchronously for a synchronous answer. Never throws
   * and never leaves a rejection unhandled; the errors it makes never hold the token.
   */
  obtain(provider: TokenProvider, reason: TokenRequest["reason"], done: (token: string) => void, fail: (error: LifelineTokenError) => void): void {
    const what = reason === "refresh" ? "a token refresh" : "a connection attempt";
    const accept = (value: unknown): void => {
      if (typeof value === "string" && value.length > 0) {
        done(value);
      } else {
        fail(new LifelineTokenError(reason, `the token function returned ${value === "" ? "an empty string" : value === undefined || value === null ? "nothing" : `a ${typeof value}, not a string`} for ${what}`));
      }
    };
    const reject = (e: unknown): void =>
      fail(new LifelineTokenError(reason, `the token function failed for ${what}: ${errorText(e)}`, { cause: e }));
    let result: ReturnType<TokenProvider>;
    try {
      result = provider(Object.freeze({ reason }));
    } catch (e) {
      reject(e);
      return;
    }
    if (result !== null && typeof result === "object" && typeof (result as PromiseLike<unknown>).then === "function") {
      Promise.resolve(result)
        .then(accept, reject)
        .then(undefined, (e: unknown) => this.host.report(new LifelineError("internal_error", `handling a token failed: ${errorText(e)}`, { cause: e })));
      return;
    }
    accept(result);
  }

  /**
   * The server told when the connection's token expires (welcome, or the reply to a refresh): schedule the next
   * refresh from it (see {@link refreshDelayMs}). Only a token function can give a new token; with a fixed one the
   * server closes with 4002 at expiry.
   */
  renewed(conn: Connection, expiresInMs: number): void {
    const clock = this.host.clock;
    if (conn.refreshTimer !== undefined) {
      clock.clearTimeout(conn.refreshTimer);
      conn.refreshTimer = undefined;
    }
    const now = clock.now();
    conn.tokenExpiresAt = now + expiresInMs;
    conn.refreshFailures = 0;
    if (typeof this.option !== "function") return;
    this.arm(conn, now + refreshDelayMs(expiresInMs));
  }

  private arm(conn: Connection, at: number): void {
    const clock = this.host.clock;
    conn.refreshAt = at;
    conn.refreshTimer = clock.setTimeout(() => this.onTimer(conn), Math.min(MAX_TIMER_MS, Math.max(0, at - clock.now())));
  }

  private onTimer(conn: Connection): void {
    const host = this.host;
    conn.refreshTimer = undefined;
    if (conn !== host.current() || !host.isOpen() || conn.refreshAt === undefined) return;
    if (conn.refreshAt > host.clock.now()) {
      this.arm(conn, conn.refreshAt); // a wait longer than a timer can take
      return;
    }
    const provider = this.option;
    if (typeof provider !== "function") return;
    const seq = ++conn.refreshSeq;
    const current = () => conn === host.current() && seq === conn.refreshSeq && host.isOpen();
    this.obtain(
      provider,
      "refresh",
      (token) => {
        if (!current()) return;
        host.requestRefresh(
          token,
          (expiresInMs) => {
            if (!current()) return;
            if (expiresInMs !== undefined) {
              this.renewed(conn, expiresInMs);
            } else {
              // Accepted, but the server names no expiry: nothing left to schedule.
              conn.tokenExpiresAt = conn.refreshAt = undefined;
              conn.refreshFailures = 0;
            }
          },
          (error) => {
            // A dropped connection ends its refreshes; the next welcome starts over.
            if (error instanceof LifelineDisconnectedError || error instanceof LifelineClosedError || !current()) return;
            this.failed(conn, new LifelineRequestError(error.code, `token refresh refused: ${error.message}`));
          },
        );
      },
      (error) => {
        if (current()) this.failed(conn, error);
      },
    );
  }

  /** A refresh failed: report it and retry with backoff while the token is still valid (after that the server closes with 4002). */
  private failed(conn: Connection, error: LifelineError): void {
    const host = this.host;
    host.report(error);
    const window = backoffWindowMs(conn.refreshFailures, this.baseMs, this.capMs);
    conn.refreshFailures++;
    const r = host.random();
    // Half the window at least: a failing provider is not asked in a tight loop.
    const delay = Math.floor(window * (0.5 + 0.5 * (r >= 0 && r < 1 ? r : 0)));
    const at = host.clock.now() + delay;
    if (conn.tokenExpiresAt !== undefined && at >= conn.tokenExpiresAt) {
      conn.refreshAt = undefined;
      return;
    }
    this.arm(conn, at);
  }
}
