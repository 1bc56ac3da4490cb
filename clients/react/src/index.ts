/**
 * @lifeline/react: React hooks and a Zustand store for the channels of a Lifeline client (@lifeline/client).
 * See README.md.
 */
export { LifelineProvider, useLifelineClient, type LifelineProviderProps } from "./context.js";
export { useChannel, type UseChannelOptions } from "./useChannel.js";
export { type ChannelView } from "./channelView.js";
export { usePresence } from "./usePresence.js";
export { useConnectionState } from "./useConnectionState.js";
export { createChannelStore, type ChannelStoreApi, type ChannelStoreOptions } from "./channelStore.js";
