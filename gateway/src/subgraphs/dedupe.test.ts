import type { Fetcher, FetcherRequestInit } from '@apollo/utils.fetcher';
import { isMutation, queryDeduplication } from './dedupe';
import { BufferedResponse } from './transport';

/** A fetcher that answers when told to and records the calls that reached it. */
function heldFetcher() {
  const calls: { target: string; init: FetcherRequestInit }[] = [];
  let release: (fail?: Error) => void = () => undefined;
  let held = new Promise<Error | undefined>((resolve) => (release = resolve));
  const fetcher: Fetcher = async (target, init = {}) => {
    calls.push({ target, init });
    const failure = await held;
    if (failure) throw failure;
    return new BufferedResponse(target, 200, new Headers(), `{"data":{"call":${calls.length}}}`);
  };
  return {
    fetcher,
    calls,
    release: (fail?: Error) => {
      release(fail);
      held = new Promise((resolve) => (release = resolve));
    },
  };
}

/** A call as the data source makes it. */
const query = (authorization: string, requestId: string, body = '{"query":"{ me { id } }"}', headers: Record<string, string> = {}): FetcherRequestInit => ({
  method: 'POST',
  headers: { authorization, 'x-request-id': requestId, ...headers },
  body,
});
/** One subgraph's fetcher deduplicated, as a gateway process with DEDUPLICATE_QUERIES has it. */
const deduplicated = (fetcher: Fetcher) => queryDeduplication()(fetcher);

describe('deduplicated subgraph calls', () => {
  it('shares one call among identical queries in flight, whatever their request ids; each caller reads its own copy', async () => {
    const inner = heldFetcher();
    const fetcher = deduplicated(inner.fetcher);
    const answers = [1, 2, 3].map((n) => fetcher('http://profile/graphql', query('Bearer a', `request-${n}`)));
    inner.release();
    expect(inner.calls.map(({ init }) => Object.keys(init.headers ?? {}))).toEqual([['authorization', 'x-request-id']]);
    const bodies = await Promise.all(answers.map(async (answer) => (await answer).json() as Promise<unknown>));
    expect(bodies).toEqual(Array(3).fill({ data: { call: 1 } }));
    expect(inner.calls).toHaveLength(1);
  });

  it('never shares across credentials, operations or subgraphs', async () => {
    const inner = heldFetcher();
    const fetcher = deduplicated(inner.fetcher);
    const answers = [
      fetcher('http://profile/graphql', query('Bearer a', '1')),
      fetcher('http://profile/graphql', query('Bearer b', '2')),
      fetcher('http://profile/graphql', query('Bearer a', '3', '{"query":"{ me { email } }"}')),
      fetcher('http://payments/graphql', query('Bearer a', '4')),
      // A client that sent back the WAL positions of its write: never the answer of a call sent before it.
      fetcher('http://profile/graphql', query('Bearer a', '5', undefined, { 'x-wal-positions': 'profile=0/3000060' })),
    ];
    inner.release();
    await Promise.all(answers);
    expect(inner.calls).toHaveLength(5);
  });

  it('never shares a mutation', async () => {
    const inner = heldFetcher();
    const fetcher = deduplicated(inner.fetcher);
    const mutation = '{"query":"mutation { logout }"}';
    const answers = [1, 2].map((n) => fetcher('http://auth/graphql', query('Bearer a', String(n), mutation)));
    inner.release();
    await Promise.all(answers);
    expect(inner.calls).toHaveLength(2);
  });

  it('gives a shared failure to every caller, then forgets it so that the next query calls again', async () => {
    const inner = heldFetcher();
    const fetcher = deduplicated(inner.fetcher);
    const answers = [1, 2].map((n) => fetcher('http://profile/graphql', query('Bearer a', String(n))));
    inner.release(new Error('connection refused'));
    await expect(Promise.all(answers)).rejects.toThrow('connection refused');
    const next = fetcher('http://profile/graphql', query('Bearer a', '3'));
    inner.release();
    await next;
    expect(inner.calls).toHaveLength(2);
  });

  it.each([
    ['{"query":"mutation { logout }"}', true],
    ['{"query":"  mutation Named { logout }"}', true],
    ['{"query":"\\nmutation { logout }"}', true],
    ['{"query":"# a comment\\nmutation { logout }"}', true],
    ['{"query":"# mutation in a comment\\nquery { me { id } }"}', false],
    ['{"query":"{ me { id } }"}', false],
    ['{"query":"query mutationLike { me { id } }"}', false],
    ['{"variables":{},"query":"mutation { logout }"}', true],
    ['not json', true],
  ])('reads %s as a mutation: %s', (body, expected) => {
    expect(isMutation(body)).toBe(expected);
  });
});

/**
 * A subgraph whose queries read the row when they arrive and answer when released, and whose mutations
 * change it; a poll sent through `pollsGo`, then a write through `writesGo`, then a refetch through
 * `pollsGo` again: what the poll and the refetch answered.
 */
async function pollWriteRefetch(route: (subgraph: Fetcher) => { pollsGo: Fetcher; writesGo: Fetcher }, target: string, QUERY: string, MUTATION: string) {
  let row = 'before';
  const held: (() => void)[] = [];
  const subgraph: Fetcher = async (url, init = {}) => {
    if (String(init.body).includes('mutation')) {
      row = 'after';
      return new BufferedResponse(url, 200, new Headers(), '{}');
    }
    const read = row;
    await new Promise<void>((resolve) => held.push(resolve));
    return new BufferedResponse(url, 200, new Headers(), JSON.stringify({ row: read }));
  };
  const { pollsGo, writesGo } = route(subgraph);
  const poll = pollsGo(target, query('Bearer alice', 'poll', QUERY));
  await writesGo(target, query('Bearer alice', 'write', MUTATION));
  const refetch = pollsGo(target, query('Bearer alice', 'refetch', QUERY));
  await new Promise((resolve) => setImmediate(resolve));
  held.splice(0).forEach((release) => release());
  return { poll: await (await poll).json(), refetch: await (await refetch).json() };
}

describe('deduplication after a write', () => {
  it("does not hand a query sent after a mutation answered the answer of one sent before it: the client's refetch sees its write", async () => {
    const answers = await pollWriteRefetch(
      (subgraph) => {
        const fetcher = deduplicated(subgraph);
        return { pollsGo: fetcher, writesGo: fetcher };
      },
      'http://payments/graphql',
      '{"query":"{ me { payments { id } } }"}',
      '{"query":"mutation { createPayment { id } }"}',
    );
    expect(answers).toEqual({ poll: { row: 'before' }, refetch: { row: 'after' } });
  });

  it('does not either when the mutation went to another subgraph of the same process', async () => {
    const answers = await pollWriteRefetch(
      (subgraph) => {
        const share = queryDeduplication();
        return { pollsGo: share(subgraph), writesGo: share(subgraph) };
      },
      'http://profile/graphql',
      '{"query":"{ me { profile { displayName } } }"}',
      '{"query":"mutation { updateMyProfile { id } }"}',
    );
    expect(answers).toEqual({ poll: { row: 'before' }, refetch: { row: 'after' } });
  });
});
