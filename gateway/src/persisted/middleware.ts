// Persisted documents at the HTTP endpoint: a listed id becomes its document, and a refused request is answered before Apollo Server parses anything.
import express from 'express';
import { GraphQLError } from 'graphql';
import type { PersistedDocuments } from './documents';

/** A GET's `extensions` parameter; undefined when it is not JSON. */
function extensionsOf(search: URLSearchParams): Record<string, unknown> | undefined {
  try {
    const extensions = JSON.parse(search.get('extensions') ?? '{}') as unknown;
    return typeof extensions === 'object' && extensions !== null ? (extensions as Record<string, unknown>) : {};
  } catch {
    return undefined;
  }
}

/**
 * GraphQL over HTTP's parameters: the JSON body of a POST, or the query string of a GET read as Apollo
 * Server reads it (URLSearchParams, the first of repeated names), so that what is checked is what runs.
 * Undefined for a request Apollo Server refuses before reading any document (a POST whose body is not
 * JSON, a GET whose `extensions` is not): it says why (BAD_REQUEST), where this said the operation was
 * not listed.
 */
function parametersOf(request: express.Request): { query?: unknown; extensions?: unknown } | undefined {
  if (request.method !== 'GET') return typeof request.body === 'object' && request.body !== null ? (request.body as object) : undefined;
  const search = new URLSearchParams(request.url.split('?')[1] ?? '');
  const extensions = extensionsOf(search);
  return extensions && { query: search.get('query') ?? undefined, extensions };
}

/** Changes a GET's query string, which Apollo Server reads next. */
function editQueryString(request: express.Request, edit: (search: URLSearchParams) => void): void {
  const [pathname, searchText] = request.url.split('?');
  const search = new URLSearchParams(searchText ?? '');
  edit(search);
  request.url = `${pathname}?${search.toString()}`;
}

/** Puts the resolved document where Apollo Server reads it, without the `persistedQuery` extension it has spent. */
function rewrite(request: express.Request, query: string | undefined): void {
  if (request.method === 'GET') {
    return editQueryString(request, (search) => {
      if (query !== undefined) search.set('query', query);
      const { persistedQuery: _spent, ...extensions } = extensionsOf(search) ?? {};
      search.set('extensions', JSON.stringify(extensions));
    });
  }
  const { extensions, ...body } = request.body as { extensions?: Record<string, unknown> };
  const { persistedQuery: _spent, ...rest } = extensions ?? {};
  request.body = { ...body, ...(query !== undefined ? { query } : {}), extensions: rest };
}

/**
 * Leaves out the empty `query` of a request handed to automatic persisted queries by its id alone (as
 * graphql-ws and graphql-sse clients send an id): Apollo Server took "" for the document, whose hash is
 * not the id, and answered INTERNAL_SERVER_ERROR.
 */
function withoutEmptyQuery(request: express.Request): void {
  if (request.method === 'GET') return editQueryString(request, (search) => search.delete('query'));
  const { query: _empty, ...body } = request.body as { query?: unknown };
  request.body = body;
}

/** Sends a refusal as Apollo Server sends its own errors: the HTTP status and headers from `extensions.http`. */
function refuse(response: express.Response, error: GraphQLError): void {
  const { http, ...extensions } = error.extensions as { http?: { status: number; headers?: Map<string, string> } };
  for (const [name, value] of http?.headers ?? []) response.setHeader(name, value);
  response.status(http?.status ?? 400).json({ errors: [{ message: error.message, extensions }] });
}

/**
 * Decides, per request to /graphql, which document runs (PERSISTED_DOCUMENTS): placed after the body
 * parser and before Apollo Server, so that a refused request costs no parsing and calls no subgraph.
 */
export function persistedDocumentsMiddleware(documents: PersistedDocuments, bodyLimitBytes: number): express.RequestHandler {
  const json = express.json({ limit: bodyLimitBytes });
  const decide: express.RequestHandler = (request, response, next) => {
    const parameters = parametersOf(request);
    if (!parameters) return next();
    const resolved = documents.resolve(parameters);
    if (resolved instanceof GraphQLError) return refuse(response, resolved);
    if (resolved.resolvedHere) rewrite(request, resolved.query);
    else if (resolved.byId) withoutEmptyQuery(request);
    next();
  };
  return (request, response, next) => {
    // Apollo Server answers other methods (and the landing page) itself.
    if (request.method !== 'GET' && request.method !== 'POST') return next();
    if (request.method === 'GET' && !request.url.includes('?')) return next();
    json(request, response, (error?: unknown) => {
      if (error) return next(error);
      // Called back by the body parser, outside Express's own try: anything thrown here would end the process.
      try {
        decide(request, response, next);
      } catch (thrown) {
        next(thrown);
      }
    });
  };
}
