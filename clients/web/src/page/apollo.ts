// One Apollo Client per sign-in: queries and mutations over HTTP as persisted query ids, subscriptions over WebSocket.
import { ApolloClient, ApolloLink, DocumentTransform, HttpLink, InMemoryCache } from '@apollo/client';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { generatePersistedQueryIdsFromManifest, sortTopLevelDefinitions } from '@apollo/persisted-query-lists';
import { OperationTypeNode } from 'graphql';
import { createClient } from 'graphql-ws';
import manifest from '../../persisted-query-manifest.json';

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
