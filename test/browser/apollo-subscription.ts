// A page's script, bundled by the browser test: Apollo Client subscribes through the gateway with GraphQLWsLink, as an app would.
/// <reference lib="dom" />
import { ApolloClient, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { createClient } from 'graphql-ws';

interface Page {
  events: unknown[];
  errors: string[];
}

const params = new URLSearchParams(location.search);
const page = window as unknown as Page & Window;
page.events = [];
page.errors = [];

const client = new ApolloClient({
  link: new GraphQLWsLink(
    createClient({ url: params.get('ws') as string, connectionParams: () => ({ authorization: `Bearer ${params.get('token') as string}` }) }),
  ),
  cache: new InMemoryCache(),
});

client
  .subscribe({
    query: gql`
      subscription {
        paymentUpdated {
          id
          status
          amount
          currency
          user {
            id
            email
            profile {
              displayName
            }
          }
        }
      }
    `,
  })
  .subscribe({
    next: (result) => {
      page.events.push(result.data);
      document.body.textContent = JSON.stringify(page.events);
    },
    error: (error: Error) => page.errors.push(error.message),
  });
