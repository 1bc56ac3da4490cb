import { isJsonObject, type JsonObject, type JsonValue } from "./json.js";

/*
 * Messages the server sends (PROTOCOL.md), and a strict parser for them. A frame may hold
 * several messages separated by "\n" (NDJSON); each line is parsed and validated on its own,
 * so one bad line is dropped without losing its neighbours.
 */

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;

export interface WelcomeMessage {
  type: "welcome";
  session: string;
  connection?: string;
  user: string | null;
  resumed: boolean;
  heartbeat: { intervalMs: number; timeoutMs: number };
  resumeWindowMs?: number;
  /** Milliseconds until the token of `hello` expires, counted from when the welcome was sent (absent: unknown). */
  tokenExpiresInMs?: number;
}
export interface PingMessage {
  type: "ping" | "pong";
  n: number;
}
export interface SubscribedMessage {
  type: "subscribed";
  id: number;
  channel: string;
  epoch: string;
  offset: number;
  recovered: boolean;
}
export interface SnapshotMessage {
  type: "snapshot";
  channel: string;
  epoch: string;
  offset: number;
  state: JsonObject;
}
export interface DeltaMessage {
  type: "delta";
  channel: string;
  offset: number;
  patch: JsonObject;
  ts?: number;
}
export interface PresenceEventMessage {
  type: "presence";
  channel: string;
  event: "join" | "leave";
  user: string;
  reason?: string;
  ts?: number;
}
/** An ephemeral event of a channel, from another connection (or the application's server: `user` absent or null). */
export interface EventMessage {
  type: "event";
  channel: string;
  user?: string | null;
  data: JsonValue;
  ts?: number;
}
/** A message from the application's server to this user. */
export interface UserMessageMessage {
  type: "message";
  data: JsonValue;
  ts?: number;
}
export interface ReplyMessage {
  type: "reply";
  id: number;
  ok: boolean;
  offset?: number;
  members?: string[];
  /** In the reply to a `refresh`: milliseconds until the new token expires (absent: unknown). */
  tokenExpiresInMs?: number;
  /** For a `conflict`, also the channel's current position. */
  error?: { code: string; message: string; epoch?: string; offset?: number };
}
export interface ErrorMessage {
  type: "error";
  id?: number;
  code: string;
  message: string;
}
/** A message of a type this client does not know: ignored (forward compatibility). */
export interface OtherMessage {
  type: "other";
  originalType: string;
}

export type ServerMessage =
  | WelcomeMessage
  | PingMessage
  | SubscribedMessage
  | SnapshotMessage
  | DeltaMessage
  | PresenceEventMessage
  | EventMessage
  | UserMessageMessage
  | ReplyMessage
  | ErrorMessage
  | OtherMessage;

/** One line of a frame: a valid message, or why it was rejected. */
export type ParsedLine = { ok: true; message: ServerMessage } | { ok: false; error: string; raw: string };

/** Splits a text frame on "\n" and parses each non-empty line, in order. */
export function parseFrame(frame: string): ParsedLine[] {
  const out: ParsedLine[] = [];
  for (const line of frame.split("\n")) {
    // Tolerate a CRLF or a trailing separator; an empty line carries no message.
    const text = line.endsWith("\r") ? line.slice(0, -1) : line;
    if (text.trim().length === 0) {
      continue;
    }
    out.push(parseLine(text));
  }
  return out;
}

/** Parses and validates one message. */
export function parseLine(text: string): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `not JSON: ${e instanceof Error ? e.message : String(e)}`, raw: text };
  }
  if (!isJsonObject(value)) {
    return { ok: false, error: "a message must be a JSON object", raw: text };
  }
  const error = validate(value);
  if (error !== undefined) {
    return { ok: false, error, raw: text };
  }
  if (!KNOWN_TYPES.has(value["type"] as string)) {
    return { ok: true, message: { type: "other", originalType: value["type"] as string } };
  }
  return { ok: true, message: value as unknown as ServerMessage };
}

const KNOWN_TYPES = new Set(["welcome", "ping", "pong", "subscribed", "snapshot", "delta", "presence", "event", "message", "reply", "error"]);

function validate(m: JsonObject): string | undefined {
  const type = m["type"];
  if (typeof type !== "string") {
    return "message.type must be a string";
  }
  switch (type) {
    case "welcome":
      return (
        str(m, "session") ??
        optStr(m, "connection") ??
        (m["user"] === undefined || m["user"] === null || typeof m["user"] === "string" ? undefined : "welcome.user must be a string or null") ??
        optBool(m, "resumed") ??
        heartbeat(m["heartbeat"]) ??
        optDuration(m, "tokenExpiresInMs")
      );
    case "ping":
    case "pong":
      return typeof m["n"] === "number" && Number.isFinite(m["n"]) ? undefined : `${type}.n must be a number`;
    case "subscribed":
      return int(m, "id") ?? str(m, "channel") ?? str(m, "epoch") ?? int(m, "offset") ?? bool(m, "recovered");
    case "snapshot":
      return str(m, "channel") ?? str(m, "epoch") ?? int(m, "offset") ?? obj(m, "state");
    case "delta":
      return str(m, "channel") ?? int(m, "offset") ?? obj(m, "patch");
    case "presence":
      return (
        str(m, "channel") ??
        (m["event"] === "join" || m["event"] === "leave" ? undefined : "presence.event must be join or leave") ??
        str(m, "user") ??
        optStr(m, "reason")
      );
    case "event":
      return (
        str(m, "channel") ??
        (m["user"] === undefined || m["user"] === null || typeof m["user"] === "string" ? undefined : "event.user must be a string or null") ??
        (m["data"] === undefined ? "event.data is missing" : undefined) ??
        optDuration(m, "ts")
      );
    case "message":
      return (m["data"] === undefined ? "message.data is missing" : undefined) ?? optDuration(m, "ts");
    case "reply": {
      const e = int(m, "id") ?? bool(m, "ok");
      if (e !== undefined) return e;
      if (m["offset"] !== undefined && int(m, "offset") !== undefined) return "reply.offset must be an offset";
      const expires = optDuration(m, "tokenExpiresInMs");
      if (expires !== undefined) return expires;
      const members = m["members"];
      if (members !== undefined && !(Array.isArray(members) && members.every((u) => typeof u === "string"))) {
        return "reply.members must be an array of strings";
      }
      if (m["ok"] === false) {
        const err = m["error"];
        if (!isJsonObject(err) || typeof err["code"] !== "string") return "reply.error.code must be a string";
      }
      return undefined;
    }
    case "error":
      return (m["id"] === undefined ? undefined : int(m, "id")) ?? str(m, "code") ?? optStr(m, "message");
    default:
      return undefined;
  }
}

function heartbeat(value: JsonValue | undefined): string | undefined {
  if (!isJsonObject(value)) return "welcome.heartbeat must be an object";
  for (const key of ["intervalMs", "timeoutMs"]) {
    const v = value[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) return `welcome.heartbeat.${key} must be a non-negative number`;
  }
  return undefined;
}

function str(m: JsonObject, key: string): string | undefined {
  return typeof m[key] === "string" ? undefined : `${String(m["type"])}.${key} must be a string`;
}
function optStr(m: JsonObject, key: string): string | undefined {
  return m[key] === undefined ? undefined : str(m, key);
}
function bool(m: JsonObject, key: string): string | undefined {
  return typeof m[key] === "boolean" ? undefined : `${String(m["type"])}.${key} must be a boolean`;
}
function optBool(m: JsonObject, key: string): string | undefined {
  return m[key] === undefined ? undefined : bool(m, key);
}
function int(m: JsonObject, key: string): string | undefined {
  const v = m[key];
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0
    ? undefined
    : `${String(m["type"])}.${key} must be a non-negative integer below 2^53`;
}
function optDuration(m: JsonObject, key: string): string | undefined {
  const v = m[key];
  return v === undefined || (typeof v === "number" && Number.isFinite(v) && v >= 0)
    ? undefined
    : `${String(m["type"])}.${key} must be a non-negative number of milliseconds`;
}
function obj(m: JsonObject, key: string): string | undefined {
  return isJsonObject(m[key]) ? undefined : `${String(m["type"])}.${key} must be an object`;
}
