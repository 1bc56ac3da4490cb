import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const base64url = (data: Buffer | string) => Buffer.from(data).toString("base64url");

/**
 * An EC P-256 key pair for `lifeline serve --auth jwt --jwt-key-file <keyFile>`, and ES256 tokens signed with it,
 * with extra claims (for example `channels`, read by the serve tool's channel policy).
 */
export class JwtIssuer {
  private readonly privateKey: KeyObject;
  private readonly dir: string;
  readonly keyFile: string;

  constructor() {
    const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.privateKey = pair.privateKey;
    this.dir = mkdtempSync(join(tmpdir(), "lifeline-jwt-"));
    this.keyFile = join(this.dir, "public.pem");
    writeFileSync(this.keyFile, pair.publicKey.export({ type: "spki", format: "pem" }));
  }

  token(sub: string, claims: Record<string, unknown> = {}, lifetimeS = 3600): string {
    const now = Math.floor(Date.now() / 1000);
    const header = base64url(JSON.stringify({ alg: "ES256", typ: "JWT" }));
    const payload = base64url(JSON.stringify({ sub, iat: now, nbf: now - 1, exp: now + lifetimeS, ...claims }));
    const signature = sign("sha256", Buffer.from(`${header}.${payload}`), { key: this.privateKey, dsaEncoding: "ieee-p1363" });
    return `${header}.${payload}.${base64url(signature)}`;
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
