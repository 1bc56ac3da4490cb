import type { LifelineClient } from "@lifeline/client";
import { createContext, createElement, useContext, type ReactNode } from "react";

const LifelineContext = createContext<LifelineClient | null>(null);
LifelineContext.displayName = "LifelineContext";

/** Props of {@link LifelineProvider}. */
export interface LifelineProviderProps {
  /** The client every hook below uses (create it once, outside the component tree). */
  readonly client: LifelineClient;
  readonly children?: ReactNode;
}

/** Makes `client` the one that `useChannel`, `usePresence` and `useConnectionState` below it use. */
export function LifelineProvider(props: LifelineProviderProps): ReactNode {
  return createElement(LifelineContext.Provider, { value: props.client }, props.children);
}

/** The client of the nearest {@link LifelineProvider}; throws when there is none. */
export function useLifelineClient(): LifelineClient {
  const client = useContext(LifelineContext);
  if (client === null) throw new Error("@lifeline/react: no LifelineProvider above this component");
  return client;
}
