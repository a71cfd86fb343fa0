// Serves the example page: its HTML, pointed at the gateway, and its script, bundled by esbuild when the server starts.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { build } from 'esbuild';
import { StartupError, listen } from '@fedstack/runtime';
import type { ClientConfig } from './config';
import { PAGE_FOLDER } from './paths';

export interface ClientServer {
  /** Where the page is, such as `http://127.0.0.1:4100/`. */
  url: string;
  stop(): Promise<void>;
}

/** The page's script: main.ts and everything it imports, Apollo Client included, in one ES module. */
async function bundle(): Promise<string> {
  const { outputFiles } = await build({
    entryPoints: [path.join(PAGE_FOLDER, 'main.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: 'inline',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  return outputFiles[0]?.text ?? '';
}

const escapeAttribute = (text: string) => text.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;');

/** Builds the page and serves it on the configured host and port (0: any free port). */
export async function startClientServer(config: ClientConfig): Promise<ClientServer> {
  const script = await bundle();
  const html = readFileSync(path.join(PAGE_FOLDER, 'index.html'), 'utf8').replace('%GATEWAY_URL%', escapeAttribute(config.gatewayUrl));
  const server = http.createServer((request, response) => {
    // A target no URL can be made of (`http://[::1`) threw where nothing caught it, and ended the server.
    const pathname = URL.parse(request.url ?? '/', 'http://page')?.pathname;
    if (pathname === undefined) return void response.writeHead(400, { 'content-type': 'text/plain' }).end('Bad request target\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') return void response.writeHead(405, { allow: 'GET, HEAD' }).end();
    if (pathname === '/') return void response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    if (pathname === '/app.js') return void response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(script);
    response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: the page is at /\n');
  });
  const { url } = await listen(server, config.port, config.host, 'the example client', 'CLIENT_PORT').catch((error: Error) => {
    throw new StartupError(error.message);
  });
  return {
    url: `${url}/`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A browser keeps its connections open; the page has nothing more to send them.
        server.closeAllConnections();
      }),
  };
}
