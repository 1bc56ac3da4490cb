import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/*
 * What the React proofs add to the browser kit of clients/js/e2e (Chromium, `lifeline serve`, the suite set-up): the
 * app bundles, built here with esbuild from e2e/app and the real react, react-dom and zustand from npm.
 */

// build-e2e/react/e2e/support/ -> clients/react
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");

/** The page's bundle (window.__app): React's development build, so StrictMode double-invokes effects. */
export async function browserBundle(): Promise<string> {
  const result = await build({
    entryPoints: [join(packageRoot, "e2e", "app", "browser.tsx")],
    bundle: true,
    format: "iife",
    target: "es2020",
    jsx: "automatic",
    define: { "process.env.NODE_ENV": '"development"' },
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0]!.text;
}

/** The server-rendering module (render(channel, initialState) -> HTML), bundled for Node and imported. */
export async function ssrModule(): Promise<{ render(channel: string, initialState: Record<string, unknown>): string }> {
  const outfile = join(packageRoot, "build-e2e", "ssr.mjs");
  await build({
    entryPoints: [join(packageRoot, "e2e", "app", "ssr.tsx")],
    bundle: true,
    platform: "node",
    packages: "external",
    format: "esm",
    target: "node20",
    jsx: "automatic",
    define: { "process.env.NODE_ENV": '"development"' },
    outfile,
    logLevel: "silent",
  });
  return (await import(outfile)) as { render(channel: string, initialState: Record<string, unknown>): string };
}
