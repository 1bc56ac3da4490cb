/*
 * The part of the browser WebSocket interface the client uses. The browser's own `WebSocket`
 * (and the `ws` package's) is assignable to it, so a factory can return one as is; tests
 * hand in a scripted in-memory double.
 */

// Handler types are declared with method syntax so that they are checked bivariantly: the
// browser's `(this: WebSocket, ev: MessageEvent) => any` is then assignable to them.
type Handler<E> = { bivarianceHack(event: E): void }["bivarianceHack"];

/** The `message` event: text frames carry a string `data`. */
export interface MessageEventLike {
  readonly data: unknown;
}

/** The `close` event. */
export interface CloseEventLike {
  readonly code: number;
  readonly reason: string;
  readonly wasClean?: boolean;
}

/** The subset of the WebSocket interface the client relies on. */
export interface WebSocketLike {
  /** 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED. */
  readonly readyState: number;
  onopen: Handler<unknown> | null;
  onmessage: Handler<MessageEventLike> | null;
  onerror: Handler<unknown> | null;
  onclose: Handler<CloseEventLike> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** Creates the socket of one connection attempt. */
export type WebSocketFactory = (url: string) => WebSocketLike;

/** WebSocket ready state OPEN. */
export const WS_OPEN = 1;

/** The default factory: the global `WebSocket` (every browser; Node 22+). */
export const defaultWebSocketFactory: WebSocketFactory = (url) => {
  const ctor = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
  if (ctor === undefined) {
    throw new TypeError("no global WebSocket: pass options.webSocketFactory");
  }
  return new ctor(url);
};
