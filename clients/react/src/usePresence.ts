import { useSyncExternalStore } from "react";
import { useLifelineClient } from "./context.js";

const NO_MEMBERS: readonly string[] = Object.freeze([]);
const noMembers = () => NO_MEMBERS;

/**
 * The members (user ids) of the channel `name`, kept up to date from presence events; `[]` on the server and
 * during hydration. Keeps the channel's wire subscription while mounted (shared with `useChannel`).
 */
export function usePresence(name: string): readonly string[] {
  const channel = useLifelineClient().channel(name);
  return useSyncExternalStore(channel.onPresence, channel.getPresenceSnapshot, noMembers);
}
