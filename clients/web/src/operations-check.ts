// The example client's operations checked against the API schema, each problem named by file, line and operation, before GraphQL Code Generator runs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Supergraph } from '@apollo/federation-internals';
import { gqlPluckFromCodeStringSync } from '@graphql-tools/graphql-tag-pluck';
import { GraphQLError, Kind, buildSchema, parse, printSchema, validate } from 'graphql';
import { ConfigError, REPOSITORY_ROOT } from '@fedstack/runtime';

/** The schema clients see: the committed supergraph without federation's own types and directives. */
export function apiSchemaSdl(file = path.join(REPOSITORY_ROOT, 'supergraph.graphql')): string {
  try {
    return printSchema(Supergraph.build(readFileSync(file, 'utf8')).apiSchema().toGraphQLJSSchema());
  } catch (error) {
    throw new ConfigError(`${path.relative(REPOSITORY_ROOT, file)}: ${(error as Error).message.split('\n')[0]} (npm run compose writes it)`);
  }
}

/**
 * Each operation of the page's source files, checked against the API schema before GraphQL Code
 * Generator sees them: its errors counted lines from the start of the operation's template (a field
 * in createPayment was reported on SIGN_IN's line), named no operation, and a syntax error came as a
 * stack trace naming no file. Fails with one line per problem: file, line, operation, message.
 */
export function checkPageOperations(schemaSdl: string, files: string[]): void {
  const schema = buildSchema(schemaSdl);
  const problems: string[] = [];
  for (const file of files) {
    for (const source of gqlPluckFromCodeStringSync(file, readFileSync(file, 'utf8'))) {
      // The template's body starts on the line after its opening backtick.
      const at = (error: GraphQLError) => `${path.relative(REPOSITORY_ROOT, file)}:${source.locationOffset.line + (error.locations?.[0]?.line ?? 1)}`;
      try {
        const document = parse(source.body);
        const name = document.definitions.find((definition) => definition.kind === Kind.OPERATION_DEFINITION)?.name?.value ?? '(unnamed)';
        for (const error of validate(schema, document)) problems.push(`${at(error)}: ${name}: ${error.message}`);
      } catch (error) {
        if (!(error instanceof GraphQLError)) throw error;
        problems.push(`${at(error)}: ${error.message}`);
      }
    }
  }
  if (problems.length > 0) throw new ConfigError(`the example client's operations do not fit the API schema:\n${problems.join('\n')}`);
}
