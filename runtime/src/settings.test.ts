import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isProduction, loadServerConfig } from './config';
import { choice, flag, httpUrl, integer, misspeltSettings, port, readSettings, secretSetting, setting, settingsTable, text } from './settings';

describe('settings', () => {
  const SETTINGS = {
    NAME: setting(text('fedstack'), 'a name', '`fedstack`'),
    COUNT: setting(integer(3, { max: 10 }), 'a count', '3'),
    PORT: setting(port(4000), 'a port', '4000'),
    ON: setting(flag(false), 'a switch', 'off'),
    MODE: setting(choice(['fast', 'safe'] as const, 'safe'), 'a mode', '`safe`'),
    URL: setting(httpUrl(), 'a URL'),
  };

  it('gives the defaults when nothing is set, and counts an empty variable as unset', () => {
    const defaults = { NAME: 'fedstack', COUNT: 3, PORT: 4000, ON: false, MODE: 'safe', URL: undefined };
    expect(readSettings({}, SETTINGS)).toEqual(defaults);
    expect(readSettings({ NAME: '', COUNT: '', URL: '' }, SETTINGS)).toEqual(defaults);
  });

  it('reads what is set', () => {
    expect(readSettings({ NAME: 'x', COUNT: '10', PORT: '0', ON: 'true', MODE: 'fast', URL: 'http://auth:4001/graphql' }, SETTINGS)).toEqual({
      NAME: 'x',
      COUNT: 10,
      PORT: 0,
      ON: true,
      MODE: 'fast',
      URL: 'http://auth:4001/graphql',
    });
  });

  it.each([
    [{ COUNT: '11' }, 'COUNT must be a whole number from 1 to 10 (got "11")'],
    [{ COUNT: '2.5' }, 'COUNT must be a whole number from 1 to 10 (got "2.5")'],
    [{ COUNT: '0' }, 'COUNT must be a whole number from 1 to 10 (got "0")'],
    [{ PORT: '65536' }, 'PORT must be a port number from 0 to 65535 (got "65536")'],
    [{ ON: 'yes' }, 'ON must be true or false (got "yes")'],
    [{ MODE: 'FAST' }, 'MODE must be one of fast, safe (got "FAST")'],
    [{ URL: 'ftp://example.com' }, 'URL is not a valid http(s) URL (got "ftp://example.com")'],
  ])('refuses %j with one line naming the setting and the value', (env, message) => {
    expect(() => readSettings(env, SETTINGS)).toThrow(message);
  });

  it("refuses a NODE_ENV that is not one of Node's (a typo of production meant development, keys and introspection and all)", () => {
    for (const NODE_ENV of ['Production', 'prod', 'staging']) {
      expect(() => isProduction({ NODE_ENV })).toThrow(`NODE_ENV must be one of development, test, production (got "${NODE_ENV}")`);
    }
    expect([isProduction({}), isProduction({ NODE_ENV: 'test' }), isProduction({ NODE_ENV: 'production' })]).toEqual([false, false, true]);
  });

  it('refuses a TRUST_PROXY Express cannot compile, naming it at start (it failed as the server started, naming nothing)', () => {
    expect(() => loadServerConfig('gateway', { TRUST_PROXY: 'abc' })).toThrow("TRUST_PROXY is not Express's `trust proxy` syntax");
    expect(loadServerConfig('gateway', { TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toBe('loopback, 10.0.0.0/8');
  });

  it('refuses a sampler OpenTelemetry does not have, or a ratio outside 0–1, naming it at start (each fell back to tracing every request)', () => {
    expect(() => loadServerConfig('gateway', { OTEL_TRACES_SAMPLER: 'bogus' })).toThrow(
      'OTEL_TRACES_SAMPLER must be one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio (got "bogus")',
    );
    for (const OTEL_TRACES_SAMPLER_ARG of ['abc', '1.5', '-0.1']) {
      expect(() => loadServerConfig('gateway', { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG })).toThrow(
        `OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1 (got "${OTEL_TRACES_SAMPLER_ARG}")`,
      );
    }
    expect(() => loadServerConfig('gateway', { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' })).not.toThrow();
  });

  it('shortens a long bad value in the message', () => {
    expect(() => readSettings({ COUNT: 'x'.repeat(500) }, SETTINGS)).toThrow(`(got "${'x'.repeat(100)}…")`);
  });

  describe('secrets', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'fedstack-settings-'));
      writeFileSync(path.join(dir, 'key'), 'from the file');
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('takes the value, else the file, and says which setting it came from', () => {
      expect(secretSetting({ KEY: 'inline', KEY_FILE: path.join(dir, 'key') }, 'KEY')).toEqual({ value: 'inline', setting: 'KEY' });
      expect(secretSetting({ KEY_FILE: path.join(dir, 'key') }, 'KEY')).toEqual({ value: 'from the file', setting: 'KEY_FILE' });
      expect(secretSetting({}, 'KEY')).toBeUndefined();
    });

    it('names the file setting when the file cannot be read', () => {
      expect(() => secretSetting({ KEY_FILE: path.join(dir, 'missing') }, 'KEY')).toThrow(/^KEY_FILE cannot be read \(ENOENT: /);
    });
  });

  it("builds the README's table with one row per meaning, listing who reads it", () => {
    const rows = settingsTable([
      { name: 'auth', settings: { AUTH_PORT: setting(port(4001), 'the port a server listens on', 'by process'), NAME: SETTINGS.NAME } },
      { name: 'gateway', settings: { GATEWAY_PORT: setting(port(4000), 'the port a server listens on', 'by process'), NAME: SETTINGS.NAME } },
    ]);
    expect(rows).toEqual([
      { names: ['AUTH_PORT', 'GATEWAY_PORT'], shown: 'by process', description: 'the port a server listens on', readBy: ['auth', 'gateway'] },
      { names: ['NAME'], shown: '`fedstack`', description: 'a name', readBy: ['auth', 'gateway'] },
    ]);
  });
});

describe('a misspelt setting', () => {
  it('is told apart from the settings and from variables that are none of them', () => {
    const known = ['SUBSCRIPTIONS_MAX_PER_USER', 'DB_POOL_SIZE', 'LOG_LEVEL'];
    const env = { SUBSCRIPTION_MAX_PER_USER: '5', db_pool_size: '3', LOG_LEVEL: 'info', HOME: '/root', NODE_OPTIONS: '', LOG_LEVELS: 'x' };
    expect(misspeltSettings(env, known)).toEqual([
      { given: 'SUBSCRIPTION_MAX_PER_USER', meant: 'SUBSCRIPTIONS_MAX_PER_USER' },
      { given: 'db_pool_size', meant: 'DB_POOL_SIZE' },
      { given: 'LOG_LEVELS', meant: 'LOG_LEVEL' },
    ]);
  });
});
