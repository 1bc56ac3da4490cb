import assert from "node:assert/strict";
import { it } from "node:test";
import type { LifelineClientOptions } from "../src/options.js";
import type { WebSocketFactory } from "../src/socket.js";

// Compile-time contract: the browser's WebSocket fits WebSocketLike without a cast. The
// function is type-checked by tsc and never called (Node 20 has no global WebSocket).
export const browserFactory: WebSocketFactory = (url) => new WebSocket(url);

// Compile-time contract: every shape of `token` the README promises type-checks without a cast.
declare const cached: string | undefined;
export const tokenShapes: Array<LifelineClientOptions["token"]> = [
  "fixed",
  () => "sync",
  () => cached,
  async () => "async",
  async () => cached,
  () => Promise.resolve(undefined),
  ({ reason }) => (reason === "refresh" ? fetchToken() : cached),
];
function fetchToken(): Promise<string> {
  return Promise.resolve("t");
}

it("the browser WebSocket type is assignable to WebSocketLike", () => {
  assert.equal(typeof browserFactory, "function");
});
