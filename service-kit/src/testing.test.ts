import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { graphql } from './testing';

describe('graphql (the test client)', () => {
  let server: Server;
  beforeAll(async () => {
    // Takes the request and never answers, as a hung service does.
    server = createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('fails naming the URL when no answer comes in time, before the test outlasts its own', async () => {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    await expect(graphql(url, '{ __typename }', { timeoutMs: 200 })).rejects.toThrow(`no answer from ${url} within 200 ms`);
  });
});
