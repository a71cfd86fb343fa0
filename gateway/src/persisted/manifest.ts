// Apollo's persisted query manifests: reading one, checking every entry, and finding an operation by id or body.
import { readFileSync } from 'node:fs';
import { Kind, getOperationAST, parse } from 'graphql';
import { z } from 'zod';
import { MANIFEST_FORMAT, StartupError, sha256Hex } from '@fedstack/runtime';

/** One operation a client ships, as its manifest lists it. */
export interface PersistedOperation {
  /** SHA-256 of `body`, in lowercase hex: what a client sends as `extensions.persistedQuery.sha256Hash`. */
  id: string;
  name: string;
  type: 'query' | 'mutation' | 'subscription';
  body: string;
  /** The manifest it came from. */
  file: string;
}

/** A manifest that cannot be used, naming the file and the entry. */
export class ManifestError extends StartupError {}

const manifestShape = z.object({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(1),
  operations: z.array(z.unknown()),
});

const entryShape = z.object({
  id: z.string().regex(/^[0-9a-f]{64}$/, 'must be the SHA-256 of the body, in lowercase hex'),
  name: z.string().min(1),
  type: z.enum(['query', 'mutation', 'subscription']),
  body: z.string().min(1),
});

const problemsOf = (error: z.ZodError) => error.issues.map((issue) => `${issue.path.join('.') || '(top level)'} ${issue.message}`).join('; ');

/** Checks one entry: its shape, that its id is its body's hash, and that the body is the operation it says. */
function checkedEntry(value: unknown, label: string, file: string): PersistedOperation {
  const entry = entryShape.safeParse(value);
  if (!entry.success) throw new ManifestError(`${label}: ${problemsOf(entry.error)}`);
  const { id, name, type, body } = entry.data;
  const actual = sha256Hex(body);
  if (actual !== id) throw new ManifestError(`${label}: id ${id} is not the SHA-256 of its body (${actual}); regenerate the manifest`);
  let document;
  try {
    document = parse(body);
  } catch (error) {
    throw new ManifestError(`${label}: the body is not a GraphQL document (${(error as Error).message})`);
  }
  // One operation per entry (with its fragments), as Apollo's generator writes them: another operation in
  // the body could be chosen by operationName and run unlisted.
  const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION).length;
  if (operations !== 1) throw new ManifestError(`${label}: the body holds ${operations} operations; an entry holds one`);
  const operation = getOperationAST(document, name);
  if (!operation || (operation.operation as string) !== type) throw new ManifestError(`${label}: the body holds no ${type} named "${name}"`);
  return { id, name, type, body, file };
}

/** Every operation of one manifest file; a ManifestError names the file and the first bad entry. */
export function readManifest(file: string): PersistedOperation[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ManifestError(`${file}: not a readable JSON manifest (${(error as Error).message})`);
  }
  return parseManifest(text, file);
}

/** Every operation of a manifest's text, `file` naming where it came from (a path, or a path at a git revision). */
export function parseManifest(text: string, file: string): PersistedOperation[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`${file}: not a readable JSON manifest (${(error as Error).message})`);
  }
  const manifest = manifestShape.safeParse(raw);
  if (!manifest.success) throw new ManifestError(`${file}: not an Apollo persisted query manifest: ${problemsOf(manifest.error)}`);
  return manifest.data.operations.map((value, index) => {
    const name = (value as { name?: unknown } | null)?.name;
    return checkedEntry(value, `${file}: operations[${index}]${typeof name === 'string' ? ` ("${name}")` : ''}`, file);
  });
}

/** The operations of one or more manifests, found by id or by an identical body. */
export class PersistedOperationList {
  private readonly byId = new Map<string, PersistedOperation>();
  private readonly bodies = new Set<string>();

  constructor(readonly operations: PersistedOperation[]) {
    for (const operation of operations) {
      this.byId.set(operation.id, operation);
      this.bodies.add(operation.body);
    }
  }

  /** Reads every manifest; the first bad one fails it all. */
  static read(files: readonly string[]): PersistedOperationList {
    return new PersistedOperationList(files.flatMap(readManifest));
  }

  /** How many distinct operations are listed. */
  get size(): number {
    return this.byId.size;
  }

  /** The listed operations' names. */
  names(): string[] {
    return this.operations.map((operation) => operation.name);
  }

  find(id: string): PersistedOperation | undefined {
    return this.byId.get(id);
  }

  /** Whether a document is listed, character for character. */
  lists(body: string): boolean {
    return this.bodies.has(body);
  }
}
