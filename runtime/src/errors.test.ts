import { GraphQLError } from 'graphql';
import { AppError, ErrorCode, excerpt, formatErrorFor, isClientSafe } from './errors';

describe('client-safe errors', () => {
  it('are ours and those with one of our codes, not a name found on the codes’ prototype chain', () => {
    const coded = (code: string) => new GraphQLError('from a subgraph', { extensions: { code } });
    expect([isClientSafe(coded('BAD_USER_INPUT')), isClientSafe(coded('constructor')), isClientSafe(coded('toString'))]).toEqual([true, false, false]);
  });

  it('in production keep our own internal errors’ messages, and mask any other internal error’s, naming only its subgraph', () => {
    const format = formatErrorFor(true);
    const ours = new AppError(ErrorCode.INTERNAL_SERVER_ERROR, 'The auth service failed with an internal error; try again');
    const forwarded = new GraphQLError('connection to postgres://auth_svc:s3cret@10.0.0.5 refused', {
      extensions: { code: 'INTERNAL_SERVER_ERROR', serviceName: 'auth', sql: 'SELECT 1' },
    });
    expect([
      format({ message: ours.message, extensions: ours.extensions }, ours),
      format({ message: forwarded.message, extensions: forwarded.extensions }, forwarded),
    ]).toEqual([
      { message: 'The auth service failed with an internal error; try again', extensions: { code: 'INTERNAL_SERVER_ERROR' } },
      { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR', serviceName: 'auth' } },
    ]);
  });
});

describe("a client's error in production", () => {
  it('suggests no name of the schema, which development does', () => {
    const message = 'Variable "$f" got invalid value "ADMN" at "f.role"; Value "ADMN" does not exist in "Role" enum. Did you mean the enum value "ADMIN"?';
    const error = new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
    const formatted = { message, extensions: error.extensions };
    expect([formatErrorFor(true)(formatted, error).message, formatErrorFor(false)(formatted, error).message]).toEqual([
      'Variable "$f" got invalid value "ADMN" at "f.role"; Value "ADMN" does not exist in "Role" enum.',
      message,
    ]);
  });
});

describe('an excerpt of a client value', () => {
  it('counts code points, cutting no emoji in half, and says when it cut', () => {
    expect([excerpt('abc', 3), excerpt('abcd', 3), excerpt('ab😀😀', 3), excerpt('😀😀😀', 3), excerpt('😀'.repeat(1000), 2)]).toEqual([
      'abc',
      'abc…',
      'ab😀…',
      '😀😀😀',
      '😀😀…',
    ]);
  });
});
