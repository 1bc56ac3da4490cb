import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

/*
 * `lifeline serve` embeds a committed copy of dist/lifeline.js (and its map) from src/Lifeline.Cli/Web/, so that
 * the .NET build needs no npm and a fresh clone serves the client at once. This keeps that copy honest: it must be
 * byte for byte what `npm run build` makes from the sources now (npm test builds first).
 */

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const served = join(packageRoot, "..", "..", "src", "Lifeline.Cli", "Web");

describe("the bundle served by lifeline serve", () => {
  for (const file of ["lifeline.js", "lifeline.js.map"]) {
    it(`src/Lifeline.Cli/Web/${file} is up to date with the sources`, () => {
      const built = readFileSync(join(packageRoot, "dist", file));
      const committed = readFileSync(join(served, file));
      assert.ok(
        built.equals(committed),
        `src/Lifeline.Cli/Web/${file} differs from dist/${file}: run "npm run bundle:server" in clients/js, rebuild the CLI and commit`,
      );
    });
  }

  it("exports LifelineClient", () => {
    const source = readFileSync(join(served, "lifeline.js"), "utf8");
    assert.match(source, /export \{[^}]*\bLifelineClient\b/s);
  });
});
