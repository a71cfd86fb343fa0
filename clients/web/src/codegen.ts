// The example client's generated files: its operations' types (GraphQL Code Generator's client preset) and its persisted query manifest.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { generatePersistedQueryManifest, type PersistedQueryManifestConfig } from '@apollo/generate-persisted-query-manifest';
import { generate, type CodegenConfig } from '@graphql-codegen/cli';
import { ConfigError, REPOSITORY_ROOT } from '@fedstack/runtime';
import { apiSchemaSdl, checkPageOperations } from './operations-check';
import { CLIENT_ROOT, GENERATED_FOLDER, MANIFEST_CONFIG_FILE, MANIFEST_FILE, PAGE_FOLDER } from './paths';

/** Custom scalars as they travel in JSON: money is an exact decimal string, never a number. */
const SCALARS = {
  DateTime: 'string',
  EmailAddress: 'string',
  UUID: 'string',
  URL: 'string',
  JSON: 'unknown',
  Locale: 'string',
  TimeZone: 'string',
  Currency: 'string',
  Decimal: 'string',
};

/** GraphQL Code Generator's settings: the client preset over the page's operations. */
export function codegenConfig(): CodegenConfig {
  return {
    schema: apiSchemaSdl(),
    documents: [path.join(PAGE_FOLDER, '**', '*.ts'), `!${path.join(GENERATED_FOLDER, '**')}`],
    silent: true,
    generates: {
      [`${GENERATED_FOLDER}/`]: {
        preset: 'client',
        presetConfig: { fragmentMasking: false },
        config: { scalars: SCALARS, strictScalars: true, enumsAsTypes: true, useTypeImports: true },
      },
    },
  };
}

/** The page's source files that hold operations: every TypeScript file but the generated ones. */
function pageSources(): string[] {
  return readdirSync(PAGE_FOLDER, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
    .map((name) => path.join(PAGE_FOLDER, name))
    .filter((file) => !file.startsWith(`${GENERATED_FOLDER}${path.sep}`));
}

/** A generated file: where it goes (absolute) and what it holds. */
export interface GeneratedFile {
  file: string;
  content: string;
}

/** The operations' types, as the client preset writes them now. */
async function operationTypes(): Promise<GeneratedFile[]> {
  const config = codegenConfig();
  checkPageOperations(config.schema as string, pageSources());
  let outputs: { filename: string; content: string }[];
  try {
    outputs = (await generate(config, false)) as typeof outputs;
  } catch (error) {
    // GraphQL Code Generator throws an AggregateError of its tasks' errors, with their stacks; what a
    // client's author needs is each error's message (the operation's field and file).
    const errors = error instanceof AggregateError ? (error.errors as unknown[]) : [error];
    const said = errors.map((each) => (each instanceof Error ? each.message : String(each)).trim());
    throw new ConfigError(`GraphQL Code Generator failed on the example client's operations:\n${said.join('\n')}`);
  }
  return outputs.map(({ filename, content }) => ({ file: path.resolve(filename), content }));
}

/**
 * The persisted query manifest, as `generate-persisted-query-manifest` writes it: Apollo Client's own
 * document transforms (`__typename`) applied, so that each body is what the client sends.
 */
async function persistedQueryManifest(): Promise<GeneratedFile> {
  let config: PersistedQueryManifestConfig & { documents: string[] };
  try {
    config = JSON.parse(readFileSync(MANIFEST_CONFIG_FILE, 'utf8')) as typeof config;
  } catch (error) {
    throw new ConfigError(`${path.relative(REPOSITORY_ROOT, MANIFEST_CONFIG_FILE)}: ${(error as Error).message}`);
  }
  // Its patterns are relative to clients/web, where its CLI runs.
  const documents = config.documents.map((pattern) =>
    pattern.startsWith('!') ? `!${path.join(CLIENT_ROOT, pattern.slice(1))}` : path.join(CLIENT_ROOT, pattern),
  );
  const manifest = await generatePersistedQueryManifest({ ...config, documents }, MANIFEST_CONFIG_FILE);
  return { file: MANIFEST_FILE, content: JSON.stringify(manifest, null, 2) };
}

/** Every file `npm run codegen` writes for the example client, and the folder the client preset owns. */
export async function generatedFiles(): Promise<{ files: GeneratedFile[]; generatedFolder: string }> {
  return { files: [...(await operationTypes()), await persistedQueryManifest()], generatedFolder: GENERATED_FOLDER };
}
