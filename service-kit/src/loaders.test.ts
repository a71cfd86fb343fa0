import { batchLoader, groupedBatchLoader } from './loaders';

const ID = '0b6c5a7e-3f1d-4c2b-9a8e-5d4c3b2a1f00';

describe("the subgraphs' loaders", () => {
  it('find a row by its UUID in either case, as PostgreSQL does, and load the same id once', async () => {
    const batches: (readonly string[])[] = [];
    const loader = batchLoader(
      async (ids: readonly string[]) => {
        batches.push(ids);
        return [{ id: ID, name: 'row' }];
      },
      (row) => row.id,
      null,
    );
    expect(await Promise.all([loader.load(ID.toUpperCase()), loader.load(ID), loader.load('not-a-uuid')])).toEqual([
      { id: ID, name: 'row' },
      { id: ID, name: 'row' },
      null,
    ]);
    expect(batches).toEqual([[ID, 'not-a-uuid']]);
  });

  it('give a UUID in either case its rows when grouped', async () => {
    const loader = groupedBatchLoader(
      async () => [
        { owner: ID, n: 1 },
        { owner: ID, n: 2 },
      ],
      (row) => row.owner,
    );
    expect(await loader.load(ID.toUpperCase())).toEqual([
      { owner: ID, n: 1 },
      { owner: ID, n: 2 },
    ]);
  });

  it('keep other keys as they are', async () => {
    const loader = batchLoader(
      async () => [{ code: 'EUR' }],
      (row) => row.code,
      null,
    );
    expect(await Promise.all([loader.load('EUR'), loader.load('eur')])).toEqual([{ code: 'EUR' }, null]);
  });
});
