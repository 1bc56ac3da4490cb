/** Base class of every error the client produces. `code` is stable and machine-readable. */
export class LifelineError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = "LifelineError";
    this.code = code;
    if (options !== undefined && "cause" in options) {
      Object.defineProperty(this, "cause", { value: options.cause, configurable: true, writable: true });
    }
  }
}

/** A request was waiting for its reply when the connection dropped (code `disconnected`). */
export class LifelineDisconnectedError extends LifelineError {
  constructor(message = "the connection dropped before the reply arrived") {
    super("disconnected", message);
    this.name = "LifelineDisconnectedError";
  }
}

/** The client is closed: by `close()`, a non-retryable close code, or its retry policy (code `closed`). */
export class LifelineClosedError extends LifelineError {
  constructor(message = "the client is closed") {
    super("closed", message);
    this.name = "LifelineClosedError";
  }
}

/** A publish made while offline did not fit in the offline queue (code `queue_full`). */
export class LifelineQueueFullError extends LifelineError {
  readonly limit: number;
  constructor(limit: number) {
    super("queue_full", `offline publish queue is full (offlineQueueLimit=${limit}); the publish was not queued`);
    this.name = "LifelineQueueFullError";
    this.limit = limit;
  }
}

/** The server refused a request: `code` is the protocol error code (`forbidden`, `invalid_message`, ...). */
export class LifelineRequestError extends LifelineError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = "LifelineRequestError";
  }
}

/**
 * A conditional publish (`if`) found the channel at another position (code `conflict`): nothing was applied.
 * `position` is where the channel stands on the server.
 */
export class LifelineConflictError extends LifelineRequestError {
  /** The channel's current position on the server, from the reply (`error.epoch`, `error.offset`). */
  readonly position: { readonly epoch: string; readonly offset: number } | undefined;
  constructor(message: string, position: { epoch: string; offset: number } | undefined) {
    super("conflict", message);
    this.name = "LifelineConflictError";
    this.position = position === undefined ? undefined : Object.freeze({ epoch: position.epoch, offset: position.offset });
  }
}

/** A received message that is not valid JSON or not a valid protocol message (code `malformed_message`). */
export class LifelineProtocolError extends LifelineError {
  /** The offending text, cut to 200 characters. */
  readonly raw: string;
  constructor(message: string, raw: string, options?: { cause?: unknown }) {
    super("malformed_message", message, options);
    this.name = "LifelineProtocolError";
    this.raw = raw.length > 200 ? `${raw.slice(0, 200)}...` : raw;
  }
}

/**
 * The token function threw, rejected, returned nothing or did not answer in time (code `token_failed`). The connection
 * attempt it was asked for counts as failed (the client retries with backoff); a refresh is retried until expiry.
 * The message never holds a token.
 */
export class LifelineTokenError extends LifelineError {
  /** What the token was asked for. */
  readonly reason: "connect" | "expired" | "refresh";
  constructor(reason: "connect" | "expired" | "refresh", message: string, options?: { cause?: unknown }) {
    super("token_failed", message, options);
    this.name = "LifelineTokenError";
    this.reason = reason;
  }
}

/** An application handler (listener) threw; the client logged it and went on (code `handler_error`). */
export class LifelineHandlerError extends LifelineError {
  constructor(where: string, cause: unknown) {
    super("handler_error", `a ${where} handler threw: ${describe(cause)}`, { cause });
    this.name = "LifelineHandlerError";
  }
}

function describe(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}
