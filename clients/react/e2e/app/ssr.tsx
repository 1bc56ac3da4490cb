import { LifelineClient, type JsonObject, type WebSocketLike } from "@lifeline/client";
import { StrictMode } from "react";
import { renderToString } from "react-dom/server";
import { LifelineProvider } from "../../src/index.js";
import { Doc } from "./components.js";

/** The server's side: renders Doc with a client that never connects (server rendering has no live connection). */
export function render(channel: string, initialState: JsonObject): string {
  const never: WebSocketLike = { readyState: 0, onopen: null, onmessage: null, onerror: null, onclose: null, send() {}, close() {} };
  const client = new LifelineClient("ws://server-render.invalid/ws", { networkEvents: null, webSocketFactory: () => never });
  try {
    return renderToString(
      <StrictMode>
        <LifelineProvider client={client}>
          <Doc channel={channel} initialState={initialState} />
        </LifelineProvider>
      </StrictMode>,
    );
  } finally {
    client.close();
  }
}
