// What `npm run client` reads: where it serves the example page, and which gateway the page talks to.
import { DEFAULT_PORTS, HOST_SETTING, httpUrl, port, readSettings, setting } from '@fedstack/runtime';

/** The gateway `npm start` runs. */
const LOCAL_GATEWAY = `http://127.0.0.1:${DEFAULT_PORTS.gateway}/graphql`;

/** The settings `npm run client` reads, for the README's table as well. */
export const CLIENT_SETTINGS = {
  CLIENT_PORT: setting(port(4100), 'the port `npm run client` serves the example page on'),
  GATEWAY_URL: setting(
    httpUrl().transform((url) => url ?? LOCAL_GATEWAY),
    "the gateway's GraphQL endpoint the example page calls (subscriptions: the same URL over WebSocket, `ws:` or `wss:`)",
    `\`${LOCAL_GATEWAY}\`, the gateway \`npm start\` runs`,
  ),
  ...HOST_SETTING,
};

export interface ClientConfig {
  port: number;
  host: string;
  /** The gateway's HTTP endpoint (`…/graphql`). */
  gatewayUrl: string;
}

/** Reads the settings once; a bad one throws a ConfigError naming it. */
export function loadClientConfig(env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const { CLIENT_PORT, GATEWAY_URL, HOST } = readSettings(env, CLIENT_SETTINGS);
  return { port: CLIENT_PORT, host: HOST, gatewayUrl: GATEWAY_URL };
}
