// Which documents the gateway runs (PERSISTED_DOCUMENTS): listed operations by id or by body, the refusals, and reloading the manifests.
import { unwatchFile, watchFile } from 'node:fs';
import { GraphQLError } from 'graphql';
import { Counter } from 'prom-client';
import { ConfigError, ErrorCode, excerpt, sha256Hex, type Logger, type ServiceMetrics } from '@fedstack/runtime';
import { ManifestError, PersistedOperationList } from './manifest';

/** `off`: any document, APQ. `allow`: listed ids resolve, any document still runs, APQ. `require`: listed operations only. */
export const PERSISTED_MODES = ['off', 'allow', 'require'] as const;
export type PersistedMode = (typeof PERSISTED_MODES)[number];

export interface PersistedSettings {
  mode: PersistedMode;
  /** The manifests, read at start and again whenever one changes. */
  files: string[];
  /** How often the files are checked for changes, in milliseconds. */
  pollMs: number;
}

/** What a request asks for, as GraphQL over HTTP (and graphql-ws, graphql-sse) carry it. */
export interface DocumentRequest {
  query?: unknown;
  extensions?: unknown;
}

/**
 * The document to run: `query` (undefined: left to APQ), whether the request named it by id, and whether
 * its `persistedQuery` extension is spent (resolved here, so APQ must not see it again).
 */
export interface ResolvedDocument {
  query: string | undefined;
  byId: boolean;
  resolvedHere: boolean;
}

const HASH_HEADERS = { status: 200, headers: new Map([['cache-control', 'private, no-cache, must-revalidate']]) };

/**
 * A client's value in a refusal: as JSON, cut short. Never throws: JSON nested thousands deep, which
 * parses, overflows the stack of JSON.stringify (a 10 kB body took the gateway down, the error thrown
 * where nothing caught it).
 */
function shown(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = `${Array.isArray(value) ? 'an array' : typeof value} nested too deeply to show`;
  }
  return excerpt(text, 80);
}

/**
 * The persisted-query id a request names (none: undefined), or what is wrong with its `extensions`.
 * Apollo Server raises its own complaints about these without a code, and they reached clients as
 * internal errors: they are answered here, in every mode, as the client's bad input.
 */
function requestedId(extensions: unknown): { id: string | undefined } | { problem: string } {
  if (extensions === undefined || extensions === null) return { id: undefined };
  if (typeof extensions !== 'object' || Array.isArray(extensions)) return { problem: `"extensions" must be an object (got ${shown(extensions)})` };
  const persisted = (extensions as { persistedQuery?: unknown }).persistedQuery;
  // Absent, as Apollo Server reads it: clients that write every field send null for none.
  if (persisted === undefined || persisted === null) return { id: undefined };
  const { version, sha256Hash } = (typeof persisted === 'object' ? persisted : {}) as { version?: unknown; sha256Hash?: unknown };
  if (version === 1 && typeof sha256Hash === 'string') return { id: sha256Hash };
  return { problem: `"extensions.persistedQuery" must be {"version":1,"sha256Hash":"<the document's SHA-256 in hex>"} (got ${shown(persisted)})` };
}

/**
 * The gateway's persisted documents: the manifests' operations (reloaded in every process that holds
 * one, like the supergraph) and the decision, for each request, of what runs. A manifest that cannot be
 * read fails the start with the entry named; one that goes bad later is refused and logged, and the
 * previous list keeps serving.
 */
export class PersistedDocuments {
  private list: PersistedOperationList;
  private readonly requests: Counter<'by'>;
  private readonly refusals: Counter<'code'>;
  private readonly stopWatching: () => void;

  constructor(
    readonly settings: PersistedSettings,
    private readonly metrics: ServiceMetrics,
    private readonly logger: Logger,
  ) {
    try {
      this.list = PersistedOperationList.read(settings.files);
    } catch (error) {
      if (error instanceof ManifestError) throw new ConfigError(`PERSISTED_DOCUMENTS_FILE: ${error.message}`);
      throw error;
    }
    metrics.listOperationNames(this.list.names());
    const registry = metrics.registry;
    this.requests = new Counter({
      name: 'gateway_operation_documents_total',
      help: 'Operations by how the client gave the document: by persisted id (listed or APQ) or as a full document',
      labelNames: ['by'] as const,
      registers: [registry],
    });
    this.refusals = new Counter({
      name: 'gateway_operations_refused_total',
      help: 'Operations refused for their document (PERSISTED_DOCUMENTS), by code',
      labelNames: ['code'] as const,
      registers: [registry],
    });
    const reload = () => this.reload();
    for (const file of settings.files) watchFile(file, { interval: settings.pollMs }, reload);
    this.stopWatching = () => settings.files.forEach((file) => unwatchFile(file, reload));
    if (settings.files.length > 0) logger.info({ mode: settings.mode, operations: this.list.size, files: settings.files }, 'persisted documents loaded');
  }

  /** How many operations are listed now. */
  get size(): number {
    return this.list.size;
  }

  private reload(): void {
    try {
      const next = PersistedOperationList.read(this.settings.files);
      // A list emptied (a deploy that wrote the manifest's frame without its operations) would close the
      // API under require: as bad as a manifest that does not parse.
      if (next.size === 0 && this.list.size > 0) throw new Error('the new list holds no operation');
      this.list = next;
      this.metrics.listOperationNames(next.names());
      this.logger.info({ operations: next.size }, 'persisted documents reloaded');
    } catch (error) {
      this.logger.error({ err: error }, 'persisted documents refused; the previous list keeps serving');
    }
  }

  /**
   * The document a request runs, or why it may not run (before anything is parsed or any subgraph called).
   * Where automatic persisted queries cannot answer an unknown id (the streaming transports), it is not found.
   */
  resolve(request: DocumentRequest, options: { automaticPersistedQueries: boolean } = { automaticPersistedQueries: true }): ResolvedDocument | GraphQLError {
    const { mode } = this.settings;
    const named = requestedId(request.extensions);
    if ('problem' in named) return this.refuse(ErrorCode.BAD_USER_INPUT, named.problem, { status: 400 });
    const { id } = named;
    const query = typeof request.query === 'string' && request.query !== '' ? request.query : undefined;
    if (id !== undefined && query === undefined) {
      this.requests.inc({ by: 'id' });
      const listed = mode === 'off' ? undefined : this.list.find(id);
      if (listed) return { query: listed.body, byId: true, resolvedHere: true };
      if (mode !== 'require' && options.automaticPersistedQueries) return { query: undefined, byId: true, resolvedHere: false };
      return this.refuse(ErrorCode.PERSISTED_QUERY_NOT_FOUND, 'PersistedQueryNotFound: no listed operation has this id', HASH_HEADERS);
    }
    this.requests.inc({ by: 'document' });
    if (id !== undefined && query !== undefined && sha256Hex(query) !== id) {
      return this.refuse(
        ErrorCode.BAD_USER_INPUT,
        `"extensions.persistedQuery.sha256Hash" must be the SHA-256 of the query sent with it (got ${shown(id)}; the query's is "${sha256Hex(query)}")`,
        { status: 400 },
      );
    }
    if (mode === 'require' && (query === undefined || !this.list.lists(query))) {
      return this.refuse(
        ErrorCode.PERSISTED_QUERY_NOT_IN_LIST,
        'Only the operations of the persisted query list run here: send a listed operation by its id or exactly as listed',
        { status: 400 },
      );
    }
    // In require mode the body is listed: its hash, if sent, is spent here (APQ is off).
    return { query, byId: false, resolvedHere: mode === 'require' };
  }

  private refuse(code: ErrorCode, message: string, http: { status: number; headers?: Map<string, string> }): GraphQLError {
    this.refusals.inc({ code });
    return new GraphQLError(message, { extensions: { code, http } });
  }

  close(): void {
    this.stopWatching();
  }
}
