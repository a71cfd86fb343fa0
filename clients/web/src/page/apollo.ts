// One Apollo Client per sign-in: queries and mutations over HTTP as persisted query ids, carrying the positions of its writes and a token kept fresh; subscriptions over WebSocket.
import { ApolloClient, ApolloLink, CombinedGraphQLErrors, DocumentTransform, HttpLink, InMemoryCache } from '@apollo/client';
import { ErrorLink } from '@apollo/client/link/error';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { generatePersistedQueryIdsFromManifest, sortTopLevelDefinitions } from '@apollo/persisted-query-lists';
import { OperationTypeNode } from 'graphql';
import { createClient } from 'graphql-ws';
import { from, switchMap, tap } from 'rxjs';
import manifest from '../../persisted-query-manifest.json';
import { REFRESH_SESSION, SIGN_OUT } from './operations';

/** The header in which the gateway answers where each service's primary was after the client's writes. */
const POSITIONS_HEADER = 'x-wal-positions';

/** A WAL position (`16/B374D848`) as a number, to tell which of two is further. */
const lsn = (position: string): bigint => {
  const [high = '0', low = '0'] = position.split('/');
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
};

/** The furthest position of each service the page's answers gave, whoever was signed in: a sign-in is a write too. */
const positions = new Map<string, string>();

/**
 * Read your writes with replicas (docs/adr/0012-read-replicas.md): keeps the furthest position of each
 * service that answers gave, and sends them with every request, so that a read after a write is served
 * where the write is. Answers may arrive out of order, hence the furthest rather than the latest.
 */
function positionsLink(): ApolloLink {
  return new ApolloLink((operation, forward) => {
    if (positions.size > 0) {
      const header = [...positions].map(([service, position]) => `${service}=${position}`).join(', ');
      operation.setContext(({ headers }: { headers?: Record<string, string> }) => ({ headers: { ...headers, [POSITIONS_HEADER]: header } }));
    }
    return forward(operation).pipe(
      tap(() => {
        const given = (operation.getContext().response as Response | undefined)?.headers.get(POSITIONS_HEADER) ?? '';
        for (const pair of given.split(',')) {
          const [service, position] = pair.trim().split('=');
          if (!service || !position || !/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i.test(position)) continue;
          const known = positions.get(service);
          if (known === undefined || lsn(position) > lsn(known)) positions.set(service, position);
        }
      }),
    );
  });
}

/** A sign-in's tokens: the access token every request carries, and the refresh token that renews it. */
export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

export interface Connection {
  client: ApolloClient;
  /** True when the WebSocket was last closed at the access token's expiry (4401): a new connection mends that at once, with a fresh token. */
  closedAtExpiry(): boolean;
  /** True once a refresh has been refused: the sign-in has ended (signed out everywhere, the account suspended). */
  sessionEnded(): boolean;
  /**
   * Refreshes the session after its access token was refused (`sessionEnded()` tells whether the refresh
   * was refused too), and has the next subscription connect with the new token.
   */
  renew(): Promise<void>;
  /**
   * Calls `listener` each time the WebSocket is connected (acknowledged), `wasRetry` when graphql-ws
   * connected again by itself (the gateway restarted): its subscriptions go on, missing what happened meanwhile.
   */
  onConnected(listener: (wasRetry: boolean) => void): void;
  /** Ends the sign-in at auth (its refresh token and access tokens stop working), then closes the connection. */
  signOut(): Promise<void>;
  /** Closes the WebSocket and stops the client's queries. */
  close(): void;
}

/** How long a query or mutation may take before the page gives up on it (the gateway gives a subgraph 10 s). */
const REQUEST_TIMEOUT_MS = 30_000;

/** `signal`, and a timeout. */
const withTimeout = (signal: AbortSignal | null | undefined): AbortSignal =>
  signal ? AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) : AbortSignal.timeout(REQUEST_TIMEOUT_MS);

/** True for an answer that refuses the access token (expired, or its sign-in ended): UNAUTHENTICATED. */
export function refusesToken(error: unknown): boolean {
  return CombinedGraphQLErrors.is(error) && error.errors.some((each) => each.extensions?.code === 'UNAUTHENTICATED');
}

/** The close code of a WebSocket's closing, as graphql-ws reports it. */
const closeCode = (event: unknown): number | undefined =>
  typeof event === 'object' && event !== null && 'code' in event && typeof event.code === 'number' ? event.code : undefined;

/** 4403 from the gateway: the subscriber's sign-in has ended or the account is suspended, which no retry changes. */
const FORBIDDEN_CLOSE = 4403;

/**
 * True for what ends a subscription for good: the account suspended (FORBIDDEN, or the gateway's 4403),
 * as against a subgraph restarting or the network. UNAUTHENTICATED says only that the token was refused:
 * expired, or its sign-in ended, which a refresh tells apart (`Connection.renew`).
 */
export function endsSession(reason: unknown): boolean {
  if (closeCode(reason) === FORBIDDEN_CLOSE) return true;
  return CombinedGraphQLErrors.is(reason) && reason.errors.some((each) => each.extensions?.code === 'FORBIDDEN');
}

/**
 * An Apollo Client for `gatewayUrl`, as the holder of `signedIn` (anonymous without it). Queries and
 * mutations go by id alone: the persisted query link sends each operation's id from the manifest
 * (queries as GET, which caches can keep), and the whole body only if the gateway does not know the id
 * (a gateway without the manifest, which then learns it: automatic persisted queries). Subscriptions go
 * over graphql-ws with their whole body, exactly as the manifest has it. An access token lasts minutes:
 * a request it refused is sent again once the session is refreshed, and a WebSocket connection closed at
 * the token's expiry is opened again with a fresh one.
 */
export function connect(gatewayUrl: string, signedIn?: Tokens): Connection {
  let tokens = signedIn;
  let refreshing: Promise<void> | undefined;
  const authorization = (): Record<string, string> => (tokens ? { authorization: `Bearer ${tokens.accessToken}` } : {});
  // The gateway closes a subscriber's WebSocket when its token expires (4401): the next connection refreshes first.
  let expired = false;
  let ended = false;
  const ws = createClient({
    url: gatewayUrl.replace(/^http/, 'ws'),
    connectionParams: async () => {
      if (expired) {
        await refresh().catch((error: unknown) => {
          ended ||= refusesToken(error);
          throw error;
        });
      }
      expired = false;
      return authorization();
    },
    // graphql-ws tries a closed connection again, 4403 included ("might grant access after retry"): not here.
    shouldRetry: (event) => ![undefined, FORBIDDEN_CLOSE].includes(closeCode(event)),
  });
  ws.on('closed', (event) => (expired = closeCode(event) === 4401));
  // Set at each attempt, so that one sent again after a refresh carries the new token. A request that
  // gives credentials of its own (a sign-in, a refresh) carries none.
  const withToken = new ApolloLink((operation, forward) => {
    if (operation.getContext().ownCredentials) return forward(operation);
    operation.setContext(({ headers }: { headers?: Record<string, string> }) => ({
      headers: { ...headers, ...authorization() },
      sentToken: tokens?.accessToken,
    }));
    return forward(operation);
  });
  // Its refusal is of what it gave (a wrong password), not of the token: a sign-in sent again counted as a second failure.
  const retriedAfterRefresh = new ErrorLink(({ error, operation, forward }) => {
    const context = operation.getContext();
    if (!tokens || context.ownCredentials || context.retried || !refusesToken(error)) return;
    operation.setContext({ retried: true });
    // Refused a token a refresh has replaced since: sent again with the new one, without another refresh.
    if (context.sentToken !== tokens.accessToken) return forward(operation);
    return from(refresh()).pipe(switchMap(() => forward(operation)));
  });
  const http = ApolloLink.from([
    retriedAfterRefresh,
    withToken,
    positionsLink(),
    createPersistedQueryLink({ ...generatePersistedQueryIdsFromManifest({ loadManifest: () => manifest }), useGETForHashedQueries: true }),
    // A gateway that hangs would leave a click unanswered for as long as the browser waits: minutes.
    new HttpLink({ uri: gatewayUrl, fetch: (input, init) => fetch(input, { ...init, signal: withTimeout(init?.signal) }) }),
  ]);
  const client = new ApolloClient({
    link: ApolloLink.split((operation) => operation.operationType === OperationTypeNode.SUBSCRIPTION, new GraphQLWsLink(ws), http),
    cache: new InMemoryCache(),
    // The manifest's generator prints each document with its definitions sorted; so does the client, so
    // that what it sends in full (a subscription, or an id the gateway does not know) is that body.
    documentTransform: new DocumentTransform(sortTopLevelDefinitions),
  });
  function close(): void {
    client.stop();
    void ws.dispose();
  }
  // One refresh at a time: a refresh token works once, and requests refused together share the new pair.
  function refresh(): Promise<void> {
    refreshing ??= (async () => {
      if (!tokens) throw new Error('Sign in first');
      const { data } = await client.mutate({ mutation: REFRESH_SESSION, variables: { refreshToken: tokens.refreshToken }, context: { ownCredentials: true } });
      if (data) tokens = { accessToken: data.refreshSession.accessToken, refreshToken: data.refreshSession.refreshToken };
    })().finally(() => (refreshing = undefined));
    return refreshing;
  }
  return {
    client,
    closedAtExpiry: () => expired,
    sessionEnded: () => ended,
    async renew() {
      try {
        await refresh();
      } catch (error) {
        ended ||= refusesToken(error);
        return;
      }
      // The connection carries the token it opened with: the next subscription opens another, with the new one.
      ws.terminate();
    },
    onConnected(listener) {
      ws.on('connected', (_socket, _payload, wasRetry) => listener(wasRetry));
    },
    async signOut() {
      // After a refresh under way, whose new refresh token is the one to end.
      await refreshing?.catch(() => undefined);
      try {
        if (tokens) await client.mutate({ mutation: SIGN_OUT, variables: { refreshToken: tokens.refreshToken }, context: { ownCredentials: true } });
      } finally {
        close();
      }
    },
    close,
  };
}
