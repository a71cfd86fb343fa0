import net from 'node:net';
import { startClientServer, type ClientServer } from './server';

/** Sends `request` as it is written, and resolves with the status line of the answer. */
function raw(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(request));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('end', () => resolve(answer.split('\r\n')[0] ?? ''));
    socket.on('error', reject);
  });
}

describe("the example client's server", () => {
  let client: ClientServer;
  beforeAll(async () => {
    client = await startClientServer({ port: 0, host: '127.0.0.1', gatewayUrl: 'http://127.0.0.1:4000/graphql' });
  });
  afterAll(() => client.stop());

  it('answers 400 to a request target no URL can be made of, and serves on', async () => {
    expect(await raw(client.url, 'GET http://[::1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    const page = await fetch(client.url);
    expect({ status: page.status, type: page.headers.get('content-type') }).toEqual({ status: 200, type: 'text/html; charset=utf-8' });
  });
});
