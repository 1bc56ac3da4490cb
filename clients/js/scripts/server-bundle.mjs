// The browser client that `lifeline serve` embeds and serves at /lifeline.js is a committed copy of
// dist/lifeline.js (and its source map) in src/Lifeline.Cli/Web/, so that the .NET build needs no npm.
//   node scripts/server-bundle.mjs          copy dist/ -> src/Lifeline.Cli/Web/ (npm run bundle:server)
//   node scripts/server-bundle.mjs --check  exit 1 when the copy differs from dist/ (test/serverBundle.test.ts does the same)
import { copyFileSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const target = join(root, "..", "..", "src", "Lifeline.Cli", "Web");
const files = ["lifeline.js", "lifeline.js.map"];
const check = process.argv.includes("--check");
let stale = 0;
for (const file of files) {
  const from = join(root, "dist", file);
  const to = join(target, file);
  if (check) {
    let same = false;
    try {
      same = readFileSync(from).equals(readFileSync(to));
    } catch {
      same = false;
    }
    if (!same) {
      stale++;
      console.error(`stale: ${to} differs from ${from}: run "npm run bundle:server" in clients/js and commit it`);
    }
  } else {
    copyFileSync(from, to);
    console.log(`copied ${from} -> ${to}`);
  }
}
process.exit(stale === 0 ? 0 : 1);
