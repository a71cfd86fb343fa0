import { loadClientConfig } from './config';

describe("the example client's settings", () => {
  it('serve the page on 127.0.0.1:4100 against the gateway `npm start` runs, by default', () => {
    expect(loadClientConfig({})).toEqual({ port: 4100, host: '127.0.0.1', gatewayUrl: 'http://127.0.0.1:4000/graphql' });
  });

  it('take the port, host and gateway given', () => {
    expect(loadClientConfig({ CLIENT_PORT: '8081', HOST: '0.0.0.0', GATEWAY_URL: 'https://api.example.com/graphql' })).toEqual({
      port: 8081,
      host: '0.0.0.0',
      gatewayUrl: 'https://api.example.com/graphql',
    });
  });

  it('refuse what cannot work, naming the setting', () => {
    expect(() => loadClientConfig({ CLIENT_PORT: 'http' })).toThrow('CLIENT_PORT must be a port number from 0 to 65535 (got "http")');
    expect(() => loadClientConfig({ GATEWAY_URL: 'ws://127.0.0.1:4000/graphql' })).toThrow(
      'GATEWAY_URL is not a valid http(s) URL (got "ws://127.0.0.1:4000/graphql")',
    );
  });
});
