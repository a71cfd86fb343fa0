// The Dockerfile as Docker reads it, for the tests of the container files (no Docker engine runs where they
// run): its stages and instructions, and for each image it makes, the workspace it installs, what it
// copies and the command it runs.
import { Cmd, Copy, DockerfileParser, From } from 'dockerfile-ast';
import { STACK } from '@fedstack/runtime';

export interface Instruction {
  keyword: string;
  /** The arguments as one line: continuation lines joined, flags included. */
  args: string;
  /** For COPY: --from's value, the sources and the destination. */
  copy?: { from?: string; sources: string[]; destination: string };
  /** For CMD in its exec form: the command and its arguments. */
  command?: string[];
}

export interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

/** The Dockerfile's stages and their instructions, parsed by dockerfile-ast (the parser of VS Code's Docker support). */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    if (instruction instanceof From) {
      const name = instruction.getBuildStage();
      stages.push({ image: instruction.getImage() ?? '', ...(name ? { name } : {}), instructions: [] });
      continue;
    }
    const stage = stages[stages.length - 1];
    if (!stage) throw new Error(`Dockerfile: ${instruction.getKeyword()} before the first FROM`);
    const words = instruction.getArguments().map((argument) => argument.getValue());
    const flags = instruction instanceof Copy ? instruction.getFlags().map((flag) => `--${flag.getName()}=${flag.getValue() ?? ''}`) : [];
    const from = instruction instanceof Copy ? instruction.getFromFlag()?.getValue() : undefined;
    const command = instruction instanceof Cmd ? instruction.getJSONStrings().map((argument) => argument.getJSONValue()) : [];
    stage.instructions.push({
      keyword: instruction.getKeyword(),
      args: [...flags, ...words].join(' '),
      ...(instruction instanceof Copy ? { copy: { ...(from ? { from } : {}), sources: words.slice(0, -1), destination: words[words.length - 1] ?? '' } } : {}),
      ...(command.length > 0 ? { command } : {}),
    });
  }
  return stages;
}

function stageNamed(stages: readonly Stage[], name: string): Stage {
  const stage = stages.find((entry) => entry.name === name);
  if (!stage) throw new Error(`the Dockerfile has no stage "${name}"`);
  return stage;
}

/** The stages a stage is built from, its own name last: `FROM <earlier stage>` inherits that stage's filesystem and settings. */
function lineageOf(stages: readonly Stage[], name: string): string[] {
  const { image } = stageNamed(stages, name);
  const parent = stages.slice(0, stages.indexOf(stageNamed(stages, name))).find((stage) => stage.name === image);
  return [...(parent?.name ? lineageOf(stages, parent.name) : []), name];
}

/** A stage's instructions as Docker runs them for it: those of the stages it is built from first. */
export function instructionsOf(stages: readonly Stage[], name: string): Instruction[] {
  return lineageOf(stages, name).flatMap((stage) => stageNamed(stages, stage).instructions);
}

/** One image the Dockerfile makes: a stage that no other stage builds on or copies from. */
export interface ProcessImage {
  /** `docker build --target <target>`. */
  target: string;
  /** The stage whose /app, its dependencies, the image copies. */
  modules: string;
  /** The workspace that stage installs the production dependencies of (`npm ci --workspace`). */
  workspace: string;
  /** What it copies from the build stage (`gateway/dist`…). */
  built: string[];
  /** What it copies from the build context (`supergraph.graphql`…). */
  files: string[];
  /** Its CMD. */
  command: string[];
  instructions: Instruction[];
}

/** The images the Dockerfile makes, by target. */
export function processImages(stages: readonly Stage[]): Map<string, ProcessImage> {
  const usedByOthers = new Set(stages.flatMap((stage) => [stage.image, ...stage.instructions.flatMap(({ copy }) => (copy?.from ? [copy.from] : []))]));
  const images = new Map<string, ProcessImage>();
  for (const { name } of stages) {
    if (name === undefined || usedByOthers.has(name)) continue;
    const instructions = instructionsOf(stages, name);
    const copies = instructions.flatMap(({ copy }) => (copy ? [copy] : []));
    const modules = copies.find((copy) => copy.from !== undefined && copy.from !== 'build')?.from ?? '';
    const install = stages.find((stage) => stage.name === modules)?.instructions.find(({ keyword }) => keyword === 'RUN')?.args ?? '';
    images.set(name, {
      target: name,
      modules,
      workspace: /--workspace[= ](\S+)/.exec(install)?.[1] ?? '',
      built: copies.filter((copy) => copy.from === 'build').flatMap((copy) => copy.sources.map((source) => source.replace(/^\/app\//, ''))),
      files: copies.filter((copy) => copy.from === undefined).flatMap((copy) => copy.sources),
      command: instructions.filter(({ keyword }) => keyword === 'CMD').pop()?.command ?? [],
      instructions,
    });
  }
  return images;
}

/**
 * A `node` command as the container files write it: `node [Node's options] <file> [arguments]`, with
 * the options a process of the stack must run with (STACK's nodeOptions) or none for the jobs.
 */
export function nodeCommand(command: readonly string[]): { program: string; options: string[]; file: string; args: string[] } {
  const [program = '', ...rest] = command;
  const first = rest.findIndex((part) => !part.startsWith('--'));
  const options = first === -1 ? rest : rest.slice(0, first);
  const [file = '', ...args] = rest.slice(options.length);
  return { program, options, file, args };
}

/** The Node options a container must give `name`: its STACK entry's, or none for a job. */
export function nodeOptionsOf(name: string): string[] {
  return [...(STACK.find((entry) => entry.name === name)?.nodeOptions ?? [])];
}
