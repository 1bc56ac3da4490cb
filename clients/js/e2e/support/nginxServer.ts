import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { repoRoot } from "./lifelineServer.js";
import { freePort } from "./redisServer.js";

/*
 * A real nginx (Debian's package) in front of `lifeline serve`, running deploy/nginx/lifeline.conf made
 * WebSocket-hostile, as tests/Lifeline.Cli.Tests/Infrastructure/NginxServer.cs runs it (a foreground child process
 * with its own prefix, temp and log files, on a free loopback port; killed on stop):
 *
 * - every upstream server is the one Lifeline node;
 * - `location /ws` strips the hop-by-hop `Upgrade` and `Connection` headers (`proxy_set_header Upgrade ""`), so the
 *   upgrade never reaches the server, which answers the plain GET with 400: the browser's WebSocket fails;
 * - `location /` passes everything else (the page's document, `/lifeline.js`), so the page is of nginx's origin;
 * - with `bufferStream`, the stream location buffers what the server streams, as a buffering proxy does: nginx's
 *   `proxy_buffering on` alone does not hold a slow stream back (it writes what it has read as soon as the client can
 *   take it, and it obeys the server's `X-Accel-Buffering: no`), so the location also ignores that header and gzips
 *   `text/event-stream`: nothing, not even the response head, leaves nginx before the response ends.
 */

/** NGINX, else `nginx` on the PATH or in /usr/sbin (Debian's package); undefined when it is not there. */
export function findNginx(): string | undefined {
  const fromEnv = process.env["NGINX"];
  if (fromEnv) {
    return fromEnv;
  }
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter), "/usr/sbin", "/sbin"];
  return dirs.filter((d) => d.length > 0).map((d) => join(d, "nginx")).find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export interface HostileOptions {
  /** Buffer the stream location (`proxy_buffering on`, the server's `X-Accel-Buffering` ignored, gzip). */
  readonly bufferStream?: boolean;
}

/** deploy/nginx/lifeline.conf with one upstream, its listen port, the upgrade stripped and optionally a buffered stream. */
export function hostileConfig(upstreamPort: number, listenPort: number, options: HostileOptions = {}): string {
  let text = readFileSync(join(repoRoot, "deploy", "nginx", "lifeline.conf"), "utf8");
  const replace = (from: string | RegExp, to: string) => {
    const next = text.replace(from, to);
    if (next === text) throw new Error(`deploy/nginx/lifeline.conf changed: '${String(from)}' not found`);
    text = next;
  };
  replace(/( {4}server 127\.0\.0\.1:\d+ [^\n]*\n)+/g, `    server 127.0.0.1:${upstreamPort};\n`);
  replace("listen 127.0.0.1:8080;", `listen 127.0.0.1:${listenPort};\n\n    location / {\n        proxy_pass http://lifeline;\n    }\n`);
  // The WebSocket-hostile part: the upgrade headers are not passed on.
  replace("proxy_set_header Upgrade $http_upgrade;", 'proxy_set_header Upgrade "";');
  replace("proxy_set_header Connection $connection_upgrade;", 'proxy_set_header Connection "";');
  if (options.bufferStream === true) {
    replace(/(location = \/ws\/stream \{[^}]*?)proxy_buffering off;/, "$1proxy_buffering on;\n        proxy_ignore_headers X-Accel-Buffering;\n        gzip on;\n        gzip_types text/event-stream;\n        gzip_min_length 0;");
  }
  return text;
}

export class NginxServer {
  private readonly output: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<number | null>,
    private readonly dir: string,
    readonly port: number,
  ) {}

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** nginx's error log and output so far, for failure messages. */
  log(): string {
    const file = join(this.dir, "error.log");
    return (existsSync(file) ? readFileSync(file, "utf8") : "") + this.output.join("\n");
  }

  /** Starts nginx with `lifelineConf(listenPort)` in its http block; waits until it accepts connections. */
  static async start(executable: string, lifelineConf: (listenPort: number) => string, timeoutMs = 10_000): Promise<NginxServer> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "lifeline-nginx-"));
    for (const temp of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) {
      mkdirSync(join(dir, temp));
    }
    writeFileSync(join(dir, "lifeline.conf"), lifelineConf(port));
    writeFileSync(join(dir, "nginx.conf"), `daemon off;
master_process off;
error_log ${dir}/error.log info;
pid ${dir}/nginx.pid;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path ${dir}/body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    include ${dir}/lifeline.conf;
}
`);
    const child = spawn(executable, ["-p", dir, "-e", join(dir, "error.log"), "-c", join(dir, "nginx.conf")], { stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<number | null>((resolve) => {
      child.once("exit", (code) => resolve(code));
      child.once("error", () => resolve(null));
    });
    process.once("exit", () => child.kill("SIGKILL"));
    const nginx = new NginxServer(child, exited, dir, port);
    child.stdout!.on("data", (c: Buffer) => nginx.output.push(c.toString("utf8").trimEnd()));
    child.stderr!.on("data", (c: Buffer) => nginx.output.push(c.toString("utf8").trimEnd()));
    // nginx prints nothing when ready: try to connect, a bounded number of times.
    const deadline = Date.now() + timeoutMs;
    let running = true;
    void exited.then(() => (running = false));
    while (running && Date.now() < deadline) {
      const accepted = await new Promise<boolean>((resolve) => {
        const socket = connect(port, "127.0.0.1");
        socket.once("connect", () => {
          socket.destroy();
          resolve(true);
        });
        socket.once("error", () => resolve(false));
      });
      if (accepted) {
        return nginx;
      }
      await new Promise((r) => setTimeout(r, 25)); // the next connection attempt, not a synchronisation
    }
    const text = nginx.log();
    await nginx.stop();
    throw new Error(`nginx did not start:\n${text}`);
  }

  /** Kills it, waits for the exit and deletes its directory. */
  async stop(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
