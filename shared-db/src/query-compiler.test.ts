import { createServiceClient } from './client';

// Prisma instantiates its WebAssembly query compiler (about 20 MB of memory) at the first query that
// needs it, raw ones included. A process whose requests are served by prepared statements and SQL on the
// pool must never load it: the readiness check and the metrics scrape, which every service runs, use `query`.
// The project's `lib` has no WebAssembly types; only its Instance constructor is replaced here.
type InstanceConstructor = new (...args: unknown[]) => object;
const wasm = (globalThis as unknown as { WebAssembly: { Instance: InstanceConstructor } }).WebAssembly;

describe("Prisma's query compiler", () => {
  const RealInstance = wasm.Instance;
  let instances = 0;
  beforeAll(() => {
    wasm.Instance = class extends RealInstance {
      constructor(...args: unknown[]) {
        super(...args);
        instances += 1;
      }
    };
  });
  afterAll(() => {
    wasm.Instance = RealInstance;
  });

  it('is loaded by the first query that needs it, and by no raw or prepared statement before', async () => {
    const profile = createServiceClient('profile', { poolSize: 1 });
    try {
      expect(await profile.query<{ one: number }>('SELECT $1::int AS one', [1])).toEqual({ rows: [{ one: 1 }], rowCount: 1 });
      expect(await profile.query('DELETE FROM profile.profiles WHERE user_id = $1::uuid', ['00000000-0000-4000-8000-000000000000'])).toEqual({
        rows: [],
        rowCount: 0,
      });
      expect(await profile.sql({ name: 'test_compiler_one', text: 'SELECT 1 AS one' }, [])).toEqual([{ one: 1 }]);
      await profile.sqlTransaction((tx) => tx.$queryRawUnsafe('SELECT 1'));
      expect(instances).toBe(0);

      await profile.profile.findFirst({ where: { userId: '00000000-0000-4000-8000-000000000000' } });
      expect(instances).toBe(1);
    } finally {
      await profile.$disconnect();
    }
  });
});
