import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/*
 * A throw-away `redis-server` (Debian's package) on a free loopback port, as tests/Lifeline.NetLab/RedisServer.cs
 * starts it: no persistence (`--save "" --appendonly no`), its own temporary directory, ready when its log says
 * "Ready to accept connections". stop() kills it and deletes the directory (process exit kills it too).
 */

const executable = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** REDIS_SERVER, else `redis-server` on the PATH; undefined when it is not there (or not executable). */
export function findRedisServer(): string | undefined {
  const fromEnv = process.env["REDIS_SERVER"];
  if (fromEnv) {
    return executable(fromEnv) ? fromEnv : undefined;
  }
  return (process.env["PATH"] ?? "/usr/bin").split(delimiter).map((dir) => join(dir, "redis-server")).find(executable);
}

/** A port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export class RedisServer {
  private readonly output: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<number | null>,
    readonly dir: string,
    readonly port: number,
  ) {}

  /** `host:port`, what `lifeline serve --redis` takes. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts a server on a free port (another one, up to 3 attempts, when the port was taken meanwhile). */
  static async start(executable: string, timeoutMs = 20_000): Promise<RedisServer> {
    let last = "";
    for (let attempt = 1; attempt <= 3; attempt++) {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), "lifeline-redis-"));
      const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--protected-mode", "no", "--dir", dir, "--daemonize", "no"];
      const child = spawn(executable, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
      const exited = new Promise<number | null>((resolve) => {
        child.once("exit", (code) => resolve(code));
        child.once("error", () => resolve(null));
      });
      const onExit = () => child.kill("SIGKILL");
      process.once("exit", onExit);
      const redis = new RedisServer(child, exited, dir, port);
      const ready = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        let pending = "";
        child.stdout!.on("data", (chunk: Buffer) => {
          pending += chunk.toString("utf8");
          let nl;
          while ((nl = pending.indexOf("\n")) >= 0) {
            const line = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            redis.output.push(line);
            if (line.includes("Ready to accept connections")) {
              clearTimeout(timer);
              resolve(true);
            }
          }
        });
        child.stderr!.on("data", (chunk: Buffer) => redis.output.push(chunk.toString("utf8").trimEnd()));
        void exited.then(() => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      if (ready) {
        return redis;
      }
      last = redis.log();
      await redis.stop();
      process.removeListener("exit", onExit);
    }
    throw new Error(`redis-server did not start (3 attempts):\n${last}`);
  }

  /** What it printed (last lines), for failure messages. */
  log(lines = 40): string {
    return this.output.slice(-lines).join("\n");
  }

  /** Kills it, waits for the exit and deletes its directory. */
  async stop(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
