import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPOSITORY_ROOT } from '@fedstack/runtime';

/** `node scripts/dist/keys.js <folder>` as an operator runs it: its exit code and what it printed. */
async function keys(folder: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [path.join(REPOSITORY_ROOT, 'scripts', 'dist', 'keys.js'), folder]);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

describe('the keys script', () => {
  let folder: string;
  beforeEach(() => (folder = mkdtempSync(path.join(os.tmpdir(), 'fedstack-keys-'))));
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  it.each([
    ['gateway', 'gateway-private.pem', "the gateway's assertion key (Ed25519, PKCS#8 PEM)"],
    ['auth', 'jwt-private.pem', "auth's token signing key (Ed25519, PKCS#8 PEM)"],
    ['auth', 'throttle-key-secret', "auth's throttle key secret (32 random bytes, base64url)"],
  ])('refuses, in one line naming it, a %s key file it finds empty (%s), rather than keep it or fail with a stack', async (owner, name, what) => {
    mkdirSync(path.join(folder, owner), { recursive: true });
    const file = path.join(folder, owner, name);
    writeFileSync(file, '');
    const { code, output } = await keys(folder);
    expect({ code, lines: output.split('\n').filter((line) => line.startsWith('error:')) }).toEqual({
      code: 1,
      lines: [`error: ${file} holds no ${what}: remove it for a new one to be made, or put the key there`],
    });
    expect(output).not.toMatch(/^\s+at /m);
  });

  it('keeps a key given as a JWK, which the services read (it refused it as no key)', async () => {
    mkdirSync(path.join(folder, 'auth'), { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(path.join(folder, 'auth', 'jwt-private.pem'), JSON.stringify(privateKey.export({ format: 'jwk' })));
    expect((await keys(folder)).code).toBe(0);
  });

  it('says in one line that it cannot make a folder, rather than fail with a stack', async () => {
    const blocked = path.join(folder, 'a-file');
    writeFileSync(blocked, '');
    const { code, output } = await keys(blocked);
    expect({ code, output: output.trim() }).toEqual({ code: 1, output: `error: cannot make the folder ${path.join(blocked, 'auth')} (ENOTDIR)` });
  });
});
