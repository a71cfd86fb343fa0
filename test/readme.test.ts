import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Kind, OperationTypeNode, parse, print, type OperationDefinitionNode } from 'graphql';
import { chromium } from 'playwright-core';
import { request } from 'undici';
import { REPOSITORY_ROOT, pollUntil, portIsFree } from '@fedstack/runtime';
import { launch, launchSettings, type Launch } from './launch';

// The README done literally, against `npm start`: the launcher's summary, then every query and command
// of the API tour in order (signing in switches the token, as the tour says), then the offline explorer
// in a real browser. `npm install` and `npm test` are the ones it leaves out: CI runs those.

const README = readFileSync(path.join(REPOSITORY_ROOT, 'README.md'), 'utf8');
const README_GATEWAY = 'http://127.0.0.1:4000';
/** Ports fetch refuses (browsers' list); a user may still give one to the gateway. */
const FETCH_BLOCKED = [6000, 6665, 6666, 6667, 6668, 6669, 6697, 10080];
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

interface Block {
  lang: string;
  text: string;
}

/** The fenced code blocks of one README section, in order. */
function blocksOf(section: string): Block[] {
  const start = README.indexOf(`## ${section}\n`);
  const end = README.indexOf('\n## ', start + 1);
  const text = README.slice(start, end < 0 ? undefined : end);
  return [...text.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((match) => ({ lang: match[1] as string, text: match[2] as string }));
}

interface Answer {
  data?: Record<string, unknown> | null;
  errors?: unknown[];
}

async function post(url: string, query: string, token?: string): Promise<Answer> {
  // undici's request, not fetch: the gateway may be on a port fetch refuses.
  const response = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query }),
  });
  return (await response.body.json()) as Answer;
}

const isSignIn = (operation: OperationDefinitionNode) =>
  operation.operation === OperationTypeNode.MUTATION &&
  operation.selectionSet.selections.some((field) => field.kind === Kind.FIELD && field.name.value === 'login');

describe('the README, done literally', () => {
  const settings = launchSettings();
  let run: Launch;
  let gateway: string;

  beforeAll(async () => {
    let gatewayPort: number | undefined;
    for (const port of FETCH_BLOCKED) if (gatewayPort === undefined && (await portIsFree(port, '127.0.0.1'))) gatewayPort = port;
    if (gatewayPort === undefined) console.warn(`every port fetch refuses is taken here (${FETCH_BLOCKED.join(', ')}); the gateway gets another`);
    const env = await settings.next(gatewayPort ? { gateway: gatewayPort } : {});
    gateway = `http://127.0.0.1:${env.GATEWAY_PORT}`;
    run = launch(env);
    await run.until('Everything is ready.');
  }, 180_000);

  afterAll(async () => {
    run.child.kill('SIGINT');
    await run.exited;
    await settings.drop();
  });

  it('npm start says where the gateway and each subgraph answer, on the ports it was given', () => {
    expect(run.output()).toContain(`GraphQL API (gateway): ${gateway}/graphql`);
    expect(run.output()).toContain(`without internet: ${gateway}/explorer/`);
    for (const name of ['auth', 'profile', 'payments', 'admin'])
      expect(run.output()).toMatch(new RegExp(`${name} subgraph: http://127\\.0\\.0\\.1:\\d+/graphql`));
  });

  it('the API tour: every query and command, in order, answers without errors', async () => {
    const blocks = blocksOf('API tour');
    expect(blocks.filter((block) => block.lang === 'graphql').length).toBeGreaterThanOrEqual(4);
    let token: string | undefined;
    const answers: Answer[] = [];
    for (const block of blocks) {
      if (block.lang === 'sh') {
        const command = block.text.replaceAll(README_GATEWAY, gateway);
        const { stdout } = await promisify(execFile)('sh', ['-c', command]);
        const answer = JSON.parse(stdout) as Answer;
        expect({ command, errors: answer.errors }).toEqual({ command, errors: undefined });
        answers.push(answer);
        continue;
      }
      expect(block.lang).toBe('graphql');
      const operations = parse(block.text).definitions as OperationDefinitionNode[];
      // Each run here alone; pasted into Sandbox or sent whole, a block of several runs only if each is named.
      expect({ block: block.text, sendable: operations.length === 1 || operations.every((operation) => operation.name) }).toEqual({
        block: block.text,
        sendable: true,
      });
      for (const operation of operations) {
        const query = print(operation);
        const answer = await post(`${gateway}/graphql`, query, isSignIn(operation) ? undefined : token);
        expect({ query, errors: answer.errors }).toEqual({ query, errors: undefined });
        if (isSignIn(operation)) token = (answer.data?.login as { accessToken: string }).accessToken;
        answers.push(answer);
      }
    }
    // The admin's view of users shows somebody's audit trail (the seed's), not only empty ones.
    const users = answers.find((answer) => answer.data?.users)?.data?.users as { edges: { node: { auditTrail: { edges: unknown[] } } }[] };
    expect(users.edges.some(({ node }) => node.auditTrail.edges.length > 0)).toBe(true);
    // The tour ends as alice.
    expect(answers[answers.length - 1]?.data?.me).toMatchObject({ email: 'alice@example.com', profile: { displayName: 'Alice' } });
  });

  it("the Subscriptions section: each transport prints alice's payment, recorded and settled, with her e-mail and name", async () => {
    const blocks = blocksOf('Subscriptions');
    const [signIn, ...transports] = blocks.filter((block) => block.lang === 'sh');
    expect(transports).toHaveLength(3);
    const host = new URL(gateway).host;
    const here = (text: string) => text.replaceAll('127.0.0.1:4000', host);
    const alice = await post(`${gateway}/graphql`, 'mutation { login(input: { email: "alice@example.com", password: "user-demo-password" }) { accessToken } }');
    const token = (alice.data?.login as { accessToken: string }).accessToken;
    for (const transport of transports) {
      const command = here(`${signIn?.text ?? ''}\n${transport.text}`);
      const child = spawn('sh', ['-c', command], { cwd: REPOSITORY_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let printed = '';
      child.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (printed += chunk.toString()));
      try {
        // It prints nothing until something happens: pay as alice until a payment of hers arrives settled
        // (an event may be printed after the payment's own answer comes back, so any of those paid counts).
        const paid: string[] = [];
        await pollUntil(
          'an event printed',
          async () => {
            const answer = await post(
              `${gateway}/graphql`,
              `mutation { createPayment(input: { amount: "2.00", currency: "EUR", paymentMethodToken: "tok_visa" }, idempotencyKey: "${randomUUID()}") { id } }`,
              token,
            );
            paid.push((answer.data?.createPayment as { id: string }).id);
            return paid.some((id) => printed.includes(id)) && /"status":\s*"SUCCEEDED"/.test(printed);
          },
          { timeoutMs: 20_000, intervalMs: 500 },
        );
        expect({ command: transport.text, printed }).toEqual({
          command: transport.text,
          printed: expect.stringMatching(/"email":\s*"alice@example\.com".*"displayName":\s*"Alice/s),
        });
      } finally {
        child.kill('SIGKILL');
      }
    }
  });

  const browser = existsSync(CHROMIUM) ? it : it.skip;
  if (!existsSync(CHROMIUM))
    console.warn(`No Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH): the explorer's browser test is skipped.`);

  browser('the explorer runs the first query of the tour in a real browser with no internet', async () => {
    // Browsers refuse the same ports fetch does; this one is told the gateway's is fine.
    const port = new URL(gateway).port;
    const instance = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', `--explicitly-allowed-ports=${port}`],
    });
    try {
      const context = await instance.newContext();
      // No internet: anything but the stack itself is refused, and noted.
      const outside: string[] = [];
      await context.route('**/*', (route) => {
        if (new URL(route.request().url()).hostname === '127.0.0.1') return route.continue();
        outside.push(route.request().url());
        return route.abort('internetdisconnected');
      });
      const page = await context.newPage();
      await page.goto(`${gateway}/explorer/`);
      const first = blocksOf('API tour').find((block) => block.lang === 'graphql') as Block;
      const editor = page.locator('app-query-editor .cm-content');
      await editor.click();
      await page.keyboard.press('Control+A');
      await page.keyboard.insertText(first.text);
      await page.getByRole('button', { name: 'Send Request' }).click();
      const result = page.locator('app-query-result .cm-content');
      await result.getByText('"accessToken"').waitFor({ timeout: 30_000 });
      const text = await result.innerText();
      expect(text).toContain('"email": "admin@example.com"');
      expect(text).not.toContain('"errors"');
      expect(outside).toEqual([]);
    } finally {
      await instance.close();
    }
  });
});
