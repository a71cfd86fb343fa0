// `node bench/dist/stubs.js '{"auth":{"schema":"…/schema.graphql","port":1234},…}'`: one process serving a
// stub of every subgraph, built from its SDL, for the benchmark's gateway-only rows.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { buildSubgraphSchema } from '@apollo/subgraph';
import {
  execute,
  getNullableType,
  isAbstractType,
  isEnumType,
  isListType,
  isObjectType,
  parse,
  type DocumentNode,
  type GraphQLFieldResolver,
  type GraphQLOutputType,
  type GraphQLSchema,
} from 'graphql';

/** Values for our scalars, so that the gateways' answers look like real ones. */
const SCALARS: Record<string, () => unknown> = {
  ID: () => randomUUID(),
  String: () => 'stub',
  Int: () => 1,
  Float: () => 1.5,
  Boolean: () => true,
  DateTime: () => new Date().toISOString(),
  EmailAddress: () => 'stub@example.com',
  Decimal: () => '9.99',
  Currency: () => 'EUR',
  URL: () => 'https://example.com/a.png',
  Locale: () => 'en-GB',
  JSON: () => ({}),
};

/** Lists are as long as the nearest `first` argument above them (a page of 20 users gives 20 edges), else 3. */
const LIST = Symbol('list length');

function mock(type: GraphQLOutputType, length: number): unknown {
  const nullable = getNullableType(type);
  if (isListType(nullable)) return Array.from({ length }, () => mock(nullable.ofType, length));
  if (isObjectType(nullable)) return { [LIST]: length };
  if (isAbstractType(nullable)) return { [LIST]: length, __typename: nullable.name };
  if (isEnumType(nullable)) return nullable.getValues()[0]?.value;
  return (SCALARS[nullable.name] ?? SCALARS.String)?.();
}

/**
 * Answers every field at once: what the parent already holds (an entity's representation), else a made-up
 * value of the field's type. No database, no validation: the cost left is the gateway's own.
 */
const fieldResolver: GraphQLFieldResolver<Record<string | symbol, unknown>, unknown, { first?: number }> = (source, args, _context, info) => {
  if (source && info.fieldName in source) return source[info.fieldName];
  const length = Math.min(typeof args.first === 'number' ? args.first : ((source?.[LIST] as number | undefined) ?? 3), 50);
  return mock(info.returnType, length);
};

function stub(schema: GraphQLSchema): http.Server {
  const documents = new Map<string, DocumentNode>();
  return http.createServer((req, res) => {
    // Anything but a GraphQL POST is the bench asking whether the stub is up.
    if (req.method !== 'POST') {
      res.writeHead(200).end('ok');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const { query, variables } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { query: string; variables?: Record<string, unknown> };
      let document = documents.get(query);
      if (!document) {
        document = parse(query);
        documents.set(query, document);
      }
      void Promise.resolve(execute({ schema, document, variableValues: variables ?? {}, rootValue: {}, fieldResolver })).then((result) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
      });
    });
  });
}

async function main(): Promise<void> {
  const subgraphs = JSON.parse(process.argv[2] ?? '{}') as Record<string, { schema: string; port: number }>;
  await Promise.all(
    Object.values(subgraphs).map(
      ({ schema, port }) =>
        new Promise<void>((resolve) => {
          stub(buildSubgraphSchema({ typeDefs: parse(readFileSync(schema, 'utf8')) })).listen(port, '127.0.0.1', resolve);
        }),
    ),
  );
  process.on('SIGTERM', () => process.exit(0));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
