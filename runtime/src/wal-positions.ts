// Read your writes across replicas: each database's WAL position after a client's writes, carried in one header (docs/adr/0012-read-replicas.md).
import type { IncomingHttpHeaders } from 'node:http';
import { AppError, ErrorCode, excerpt } from './errors';
import { isService, type Service } from './stack';

/**
 * The header that carries positions, `payments=0/3000060, auth=0/30000A0`: from a subgraph to the gateway
 * after a write, from the gateway to the client with the answer, back from the client with its next
 * request, and from the gateway to each subgraph (its own position only) on every call.
 */
export const WAL_POSITIONS_HEADER = 'x-wal-positions';
/** Four services' positions fit in about 100 characters; anything much longer is not ours. */
const MAX_HEADER_LENGTH = 512;
const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i;

/** A WAL position as PostgreSQL writes it (`16/B374D848`), as a number; undefined when it is not one. */
export function parseLsn(text: string): bigint | undefined {
  if (!LSN.test(text)) return undefined;
  const [high, low] = text.split('/') as [string, string];
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Why a header's value is not a list of positions, for the client that sent it. */
export class WalPositionsError extends Error {
  override name = 'WalPositionsError';
}

/** The furthest position seen for each service's database, as a request or a client knows them. */
export class WalPositions {
  private readonly positions = new Map<Service, bigint>();

  /**
   * Reads a header's value (absent or empty: no positions). Throws a WalPositionsError naming what is
   * wrong with anything that is not `<service>=<position>` pairs separated by commas.
   */
  static parse(header: string | undefined): WalPositions {
    const positions = new WalPositions();
    positions.merge(header);
    return positions;
  }

  /** Adds a header's positions (or another set's), keeping the further one of each service; throws as `parse` does. */
  merge(header: string | WalPositions | undefined): void {
    if (header instanceof WalPositions) {
      for (const [service, lsn] of header.positions) this.add(service, lsn);
      return;
    }
    if (header === undefined || header.trim() === '') return;
    if (header.length > MAX_HEADER_LENGTH) throw new WalPositionsError(`${WAL_POSITIONS_HEADER} is longer than ${MAX_HEADER_LENGTH} characters`);
    for (const pair of header.split(',')) {
      const [service = '', position = '', ...rest] = pair.trim().split('=');
      const lsn = parseLsn(position);
      if (!isService(service) || lsn === undefined || rest.length > 0) {
        throw new WalPositionsError(
          `${WAL_POSITIONS_HEADER} must be <service>=<WAL position> pairs separated by commas, as an earlier answer gave them (got "${excerpt(pair.trim(), 64)}")`,
        );
      }
      this.add(service, lsn);
    }
  }

  /** Records that `service`'s database has reached `lsn` (a bigint, or text as PostgreSQL writes it). */
  add(service: Service, lsn: bigint | string): void {
    const value = typeof lsn === 'bigint' ? lsn : parseLsn(lsn);
    if (value === undefined) throw new WalPositionsError(`not a WAL position: "${excerpt(String(lsn), 64)}"`);
    if (value > (this.positions.get(service) ?? -1n)) this.positions.set(service, value);
  }

  /** The position of one service's database, as PostgreSQL writes it; undefined when none is known. */
  get(service: Service): string | undefined {
    const lsn = this.positions.get(service);
    return lsn === undefined ? undefined : formatLsn(lsn);
  }

  /** The header's value for every position, or for `only` that service's; undefined when there is none. */
  toHeader(only?: string): string | undefined {
    const pairs = [...this.positions].filter(([service]) => only === undefined || service === only).map(([service, lsn]) => `${service}=${formatLsn(lsn)}`);
    return pairs.length > 0 ? pairs.join(', ') : undefined;
  }
}

/** The positions a request carries in `x-wal-positions`; a header that is not positions is bad input (HTTP 400) naming it. */
export function requestPositions(headers: IncomingHttpHeaders): WalPositions {
  const header = headers[WAL_POSITIONS_HEADER];
  try {
    return WalPositions.parse(Array.isArray(header) ? header.join(',') : header);
  } catch (error) {
    if (!(error instanceof WalPositionsError)) throw error;
    throw new AppError(ErrorCode.BAD_USER_INPUT, error.message, { field: WAL_POSITIONS_HEADER, http: { status: 400 } });
  }
}
