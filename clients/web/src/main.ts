// `npm run client`: builds the example page and serves it until Ctrl-C, against the gateway GATEWAY_URL names.
import { runMain } from '@fedstack/runtime';
import { loadClientConfig } from './config';
import { startClientServer } from './server';

runMain(async () => {
  const config = loadClientConfig();
  const server = await startClientServer(config);
  console.log(`Example client: ${server.url} (gateway ${config.gatewayUrl}; start it with npm start). Ctrl-C stops it.`);
  await new Promise((resolve) => ['SIGINT', 'SIGTERM'].forEach((signal) => process.once(signal, resolve)));
  await server.stop();
});
