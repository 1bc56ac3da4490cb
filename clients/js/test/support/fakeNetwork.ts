import type { NetworkEventHandlers, NetworkEvents } from "../../src/networkEvents.js";

/** Scripted browser signals: the test fires `offline`, `online` and `wake` (visible / pageshow persisted / resume). */
export class FakeNetwork implements NetworkEvents {
  private handlers: NetworkEventHandlers | undefined;
  subscriptions = 0;
  unsubscriptions = 0;

  subscribe(handlers: NetworkEventHandlers): () => void {
    if (this.handlers !== undefined) throw new Error("subscribed twice without unsubscribing");
    this.handlers = handlers;
    this.subscriptions++;
    return () => {
      this.handlers = undefined;
      this.unsubscriptions++;
    };
  }

  get attached(): boolean {
    return this.handlers !== undefined;
  }

  offline(): void {
    this.handlers?.offline();
  }
  online(): void {
    this.handlers?.online();
  }
  wake(): void {
    this.handlers?.wake();
  }
}
