// The last check `npm start` makes before it says the stack is ready.
import http from 'node:http';
import { persistedQueryManifest } from '@fedstack/runtime';

/** One GraphQL request over node:http (fetch refuses some ports a user may choose), its JSON answer. */
function post(
  url: string,
  body: unknown,
  token?: string,
): Promise<{ data?: Record<string, unknown>; errors?: { message: string; extensions?: Record<string, unknown> }[] }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        timeout: 15_000,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          try {
            resolve(JSON.parse(text) as Awaited<ReturnType<typeof post>>);
          } catch {
            reject(new Error(`${url} answered HTTP ${response.statusCode} with something other than JSON`));
          }
        });
      },
    );
    request.on('timeout', () => request.destroy(new Error(`${url} did not answer within 15 s`)));
    request.on('error', reject);
    request.end(payload);
  });
}

const SIGN_IN = 'mutation LauncherSignIn($email: EmailAddress!, $password: String!) { login(input: { email: $email, password: $password }) { accessToken } }';
/** Resolved by all four subgraphs: auth (me), profile, payments and admin (the audit trail). */
const EVERY_SUBGRAPH =
  'query LauncherEverySubgraph { me { id profile { displayName } payments(first: 1) { edges { node { id } } } auditTrail(first: 1) { edges { node { id } } } } }';

/**
 * The check's two operations as an Apollo persisted query manifest. `npm start` adds it to the gateway's
 * PERSISTED_DOCUMENTS_FILE when one is given, so that the check runs under PERSISTED_DOCUMENTS=require too.
 */
export function launcherManifest(): string {
  return persistedQueryManifest([
    { name: 'LauncherSignIn', type: 'mutation', body: SIGN_IN },
    { name: 'LauncherEverySubgraph', type: 'query', body: EVERY_SUBGRAPH },
  ]);
}

/**
 * Signs in as the demo admin through the gateway and runs one query that every subgraph answers part of:
 * the stack is ready only if this works. Fails naming what went wrong (and which subgraph, when one did).
 */
export async function firstQuery(gatewayUrl: string, admin: { email: string; password: string }): Promise<void> {
  const describe = (errors: { message: string; extensions?: Record<string, unknown> }[]) =>
    errors.map((error) => `${error.message}${typeof error.extensions?.serviceName === 'string' ? ` (${error.extensions.serviceName})` : ''}`).join('; ');
  const signIn = await post(gatewayUrl, { query: SIGN_IN, variables: admin });
  const token = (signIn.data?.login as { accessToken?: string } | undefined)?.accessToken;
  if (!token) throw new Error(`signing in as ${admin.email} through the gateway failed: ${describe(signIn.errors ?? [])}`);
  const answer = await post(gatewayUrl, { query: EVERY_SUBGRAPH }, token);
  if (answer.errors?.length || !answer.data?.me) {
    throw new Error(`the first query through the gateway, which every subgraph answers part of, failed: ${describe(answer.errors ?? [])}`);
  }
}
