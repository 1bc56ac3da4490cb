import type { ConnectionState, LifelineClient } from "@lifeline/client";
import { useSyncExternalStore } from "react";
import { useLifelineClient } from "./context.js";

const subscribers = new WeakMap<LifelineClient, (onChange: () => void) => () => void>();
const connecting = (): ConnectionState => "connecting";

function subscriberOf(client: LifelineClient): (onChange: () => void) => () => void {
  let subscribe = subscribers.get(client);
  if (subscribe === undefined) {
    subscribe = (onChange) => client.onStateChange(() => onChange());
    subscribers.set(client, subscribe);
  }
  return subscribe;
}

/** The provider's client's connection state: `"connecting" | "open" | "reconnecting" | "closed"` (`"connecting"` on the server). */
export function useConnectionState(): ConnectionState {
  const client = useLifelineClient();
  return useSyncExternalStore(subscriberOf(client), () => client.state, connecting);
}
