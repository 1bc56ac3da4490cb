import assert from "node:assert/strict";
import { it } from "node:test";
import type { WebSocketFactory } from "../src/socket.js";

// Compile-time contract: the browser's WebSocket fits WebSocketLike without a cast. The
// function is type-checked by tsc and never called (Node 20 has no global WebSocket).
export const browserFactory: WebSocketFactory = (url) => new WebSocket(url);

it("the browser WebSocket type is assignable to WebSocketLike", () => {
  assert.equal(typeof browserFactory, "function");
});
