// One Apollo Client per sign-in: queries and mutations over HTTP as persisted query ids, carrying the positions of its writes; subscriptions over WebSocket.
import { ApolloClient, ApolloLink, DocumentTransform, HttpLink, InMemoryCache } from '@apollo/client';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { generatePersistedQueryIdsFromManifest, sortTopLevelDefinitions } from '@apollo/persisted-query-lists';
import { OperationTypeNode } from 'graphql';
import { createClient } from 'graphql-ws';
import { tap } from 'rxjs';
import manifest from '../../persisted-query-manifest.json';

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

export interface Connection {
  client: ApolloClient;
  /** Closes the WebSocket and stops the client's queries. */
  close(): void;
}

/**
 * An Apollo Client for `gatewayUrl`, as `token`'s holder (anonymous without one). Queries and mutations
 * go by id alone: the persisted query link sends each operation's id from the manifest (queries as GET,
 * which caches can keep), and the whole body only if the gateway does not know the id (a gateway
 * without the manifest, which then learns it: automatic persisted queries). Subscriptions go over
 * graphql-ws with their whole body, exactly as the manifest has it.
 */
export function connect(gatewayUrl: string, token?: string): Connection {
  const authorization = token ? { authorization: `Bearer ${token}` } : undefined;
  const ws = createClient({ url: gatewayUrl.replace(/^http/, 'ws'), connectionParams: authorization });
  const http = ApolloLink.from([
    positionsLink(),
    createPersistedQueryLink({ ...generatePersistedQueryIdsFromManifest({ loadManifest: () => manifest }), useGETForHashedQueries: true }),
    new HttpLink({ uri: gatewayUrl, headers: authorization }),
  ]);
  const client = new ApolloClient({
    link: ApolloLink.split((operation) => operation.operationType === OperationTypeNode.SUBSCRIPTION, new GraphQLWsLink(ws), http),
    cache: new InMemoryCache(),
    // The manifest's generator prints each document with its definitions sorted; so does the client, so
    // that what it sends in full (a subscription, or an id the gateway does not know) is that body.
    documentTransform: new DocumentTransform(sortTopLevelDefinitions),
  });
  return {
    client,
    close() {
      client.stop();
      void ws.dispose();
    },
  };
}
