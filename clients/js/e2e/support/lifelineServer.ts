import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/*
 * A real `lifeline serve` process: `dotnet <built lifeline.dll> serve --port P --auth dev --test-endpoints
 * --heartbeat-interval 500ms --heartbeat-timeout 500ms`, as tests/Lifeline.Cli.Tests/Infrastructure/LifelineProcess.cs
 * starts it. The startup log line gives the real port; a restart starts a new process on the same port.
 */

/** The repository root: the nearest folder above this file that holds Lifeline.sln (this file is compiled into clients/js/build-e2e, and into clients/react/build-e2e for the React suites). */
export const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "Lifeline.sln"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no Lifeline.sln above ${from}`);
  }
}

/**
 * The tool's build output: LIFELINE_DLL, else the newer of src/Lifeline.Cli/bin/{Release,Debug}/net10.0/lifeline.dll
 * (test.sh builds Release). Undefined when it is not built.
 */
export function findLifelineDll(): string | undefined {
  const fromEnv = process.env["LIFELINE_DLL"];
  if (fromEnv) {
    return fromEnv;
  }
  const candidates = ["Release", "Debug"]
    .map((c) => join(repoRoot, "src", "Lifeline.Cli", "bin", c, "net10.0", "lifeline.dll"))
    .filter((p) => existsSync(p))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return candidates[0];
}

/** Where tests keep pictures and logs: the repository's test-output/ (git-ignored), or LIFELINE_TEST_OUTPUT. */
export const TEST_OUTPUT = process.env["LIFELINE_TEST_OUTPUT"] ?? join(repoRoot, "test-output");

export const HEARTBEAT_INTERVAL_MS = 500;
export const HEARTBEAT_TIMEOUT_MS = 500;

const LISTENING = /listening on http:\/\/127\.0\.0\.1:(\d+)/;
/** Exit code of `lifeline serve` when it cannot listen (the port is still held by the process before). */
const EXIT_CANNOT_LISTEN = 3;

export class LifelineServer {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);
  private readonly output: string[] = [];
  port = 0;
  starts = 0;

  constructor(
    private readonly dll: string,
    private readonly extraEnv: Record<string, string> = {},
    /** Replaces `--auth dev` (for example `--auth jwt --jwt-key-file F`). */
    private readonly authArgs: readonly string[] = ["--auth", "dev"],
    /** More arguments (for example `--redis 127.0.0.1:N`), kept for every restart. */
    private readonly extraArgs: readonly string[] = [],
    /** The heartbeat interval and timeout (ms); the default is {@link HEARTBEAT_INTERVAL_MS} / {@link HEARTBEAT_TIMEOUT_MS}. */
    private readonly heartbeatMs: readonly [number, number] = [HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS],
  ) {
    process.once("exit", () => this.child?.kill("SIGKILL"));
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** What the processes printed (last lines), for failure messages. */
  log(lines = 60): string {
    return this.output.slice(-lines).join("\n");
  }

  /** Starts a process on `port` (0: any free port) and waits for its startup line. Retries while the port is still held. */
  async start(port = this.port, timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const result = await this.startOnce(port, deadline - Date.now());
      if (result !== "cannot_listen") {
        return result;
      }
      if (Date.now() > deadline) {
        throw new Error(`lifeline serve could not listen on port ${port} within ${timeoutMs} ms\n${this.log()}`);
      }
      await new Promise((r) => setTimeout(r, 100)); // a fresh attempt, not a synchronisation
    }
  }

  private startOnce(port: number, timeoutMs: number): Promise<number | "cannot_listen"> {
    const env: NodeJS.ProcessEnv = { ...process.env, DOTNET_NOLOGO: "1", ...this.extraEnv };
    for (const key of Object.keys(env)) {
      if (key.toLowerCase().startsWith("lifeline__") && !(key in this.extraEnv)) {
        delete env[key];
      }
    }
    const args = [this.dll, "serve", "--port", String(port), ...this.authArgs, "--test-endpoints",
      "--heartbeat-interval", `${this.heartbeatMs[0]}ms`, "--heartbeat-timeout", `${this.heartbeatMs[1]}ms`, ...this.extraArgs];
    const child = spawn(process.env["DOTNET_HOST_PATH"] || "dotnet", args, { cwd: dirname(this.dll), env, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.starts++;
    const tag = `[serve #${this.starts}]`;
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`lifeline serve printed no startup line within ${timeoutMs} ms\n${this.log()}`));
      }, Math.max(timeoutMs, 1000));
      let pending = "";
      const onData = (stream: string) => (chunk: Buffer) => {
        pending += chunk.toString("utf8");
        let nl;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          this.output.push(`${tag} ${stream} ${line}`);
          const match = LISTENING.exec(line);
          if (match) {
            clearTimeout(timer);
            this.port = Number(match[1]);
            resolve(this.port);
          }
        }
      };
      child.stdout!.on("data", onData("out"));
      child.stderr!.on("data", (chunk: Buffer) => this.output.push(`${tag} err ${chunk.toString("utf8").trimEnd()}`));
      void this.exited.then((code) => {
        clearTimeout(timer);
        if (code === EXIT_CANNOT_LISTEN) {
          resolve("cannot_listen");
        } else {
          reject(new Error(`lifeline serve exited with ${code} before listening\n${this.log()}`));
        }
      });
    });
  }

  /** Kills the process (SIGKILL: a crash, clients see 1006) and waits for it to exit. */
  async kill(): Promise<void> {
    this.child?.kill("SIGKILL");
    await this.exited;
  }

  /** SIGTERM: a graceful stop (clients get 1001 with retry_after_ms); waits for exit and returns the exit code. */
  async terminate(): Promise<number | null> {
    this.child?.kill("SIGTERM");
    return this.exited;
  }

  async restart(how: "kill" | "terminate" = "kill"): Promise<void> {
    if (how === "kill") {
      await this.kill();
    } else {
      await this.terminate();
    }
    await this.start(this.port);
  }

  async post(path: string): Promise<number> {
    const response = await fetch(this.origin + path, { method: "POST" });
    return response.status;
  }

  async health(): Promise<{ status: string; connections?: number }> {
    const response = await fetch(this.origin + "/healthz");
    return (await response.json()) as { status: string; connections?: number };
  }
}
