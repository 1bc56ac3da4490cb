/**
 * The close-code table of PROTOCOL.md, kept in step with `Lifeline.Protocol.CloseCode` of the
 * .NET code: codes the table does not know are retried only in the 1011-1014 and 4000-4099
 * ranges (4001 excepted).
 */
export interface CloseCodeInfo {
  /** The WebSocket close status. */
  readonly code: number;
  /** The canonical reason name. */
  readonly name: string;
  /** Whether the client reconnects after this close. */
  readonly shouldReconnect: boolean;
  /**
   * Whether the first attempt after this close goes at once, without the backoff delay (4002: the token expired, a
   * fresh one from the token function fixes it). Only one such attempt per outage; later ones use the backoff.
   */
  readonly reconnectImmediately: boolean;
}

const TABLE: readonly CloseCodeInfo[] = [
  { code: 1000, name: "normal", shouldReconnect: false, reconnectImmediately: false },
  { code: 1001, name: "going_away", shouldReconnect: true, reconnectImmediately: false },
  { code: 1002, name: "protocol_error", shouldReconnect: false, reconnectImmediately: false },
  { code: 1003, name: "binary_not_supported", shouldReconnect: false, reconnectImmediately: false },
  { code: 1006, name: "connection_lost", shouldReconnect: true, reconnectImmediately: false },
  { code: 1007, name: "invalid_payload", shouldReconnect: false, reconnectImmediately: false },
  { code: 1008, name: "policy_violation", shouldReconnect: false, reconnectImmediately: false },
  { code: 1009, name: "message_too_big", shouldReconnect: false, reconnectImmediately: false },
  { code: 1011, name: "internal_error", shouldReconnect: true, reconnectImmediately: false },
  { code: 1013, name: "try_again_later", shouldReconnect: true, reconnectImmediately: false },
  { code: 4000, name: "heartbeat_timeout", shouldReconnect: true, reconnectImmediately: false },
  { code: 4001, name: "unauthorized", shouldReconnect: false, reconnectImmediately: false },
  { code: 4002, name: "token_expired", shouldReconnect: true, reconnectImmediately: true },
];

/** Close codes of PROTOCOL.md, by name. */
export const CloseCodes = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  InternalError: 1011,
  TryAgainLater: 1013,
  HeartbeatTimeout: 4000,
  Unauthorized: 4001,
  TokenExpired: 4002,
} as const;

/** Looks a close status up in the table (unknown codes get the name `unknown`). */
export function closeCodeInfo(code: number): CloseCodeInfo {
  for (const row of TABLE) {
    if (row.code === code) {
      return row;
    }
  }
  const retry = (code >= 1011 && code <= 1014) || (code >= 4000 && code <= 4099 && code !== 4001);
  return { code, name: "unknown", shouldReconnect: retry, reconnectImmediately: false };
}

const RETRY_AFTER = /(?:^|[\s;,])retry_after_ms=(\d{1,9})(?:$|[\s;,])/;

/** Reads the `retry_after_ms=N` hint of a 1001 close reason; undefined when absent. */
export function parseRetryAfterMs(reason: string): number | undefined {
  const match = RETRY_AFTER.exec(reason);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
