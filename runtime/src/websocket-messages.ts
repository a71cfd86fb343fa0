// What reaches graphql-ws from one connection: text only, one operation per id at a time, and a client's misplaced message as its own error.
import { CloseCode } from 'graphql-ws';
import type { WebSocket } from 'ws';
import type { Logger } from './logger';

/**
 * The id of a `subscribe` message, or undefined for any other text. Every message is read, however it
 * looks: JSON lets a client escape any letter of "subscribe", which graphql-ws reads as the word itself.
 */
function subscribeIdOf(text: string): string | undefined {
  try {
    const message = JSON.parse(text) as { type?: unknown; id?: unknown } | null;
    return message?.type === 'subscribe' && typeof message.id === 'string' ? message.id : undefined;
  } catch {
    // Not JSON: graphql-ws refuses it (4400).
    return undefined;
  }
}

/** graphql-ws's error for a message type only a server sends (`next`, `error`, `connection_ack`). */
const misplaced = (error: unknown) => error instanceof Error && error.message.startsWith('Unexpected message of type ');

/**
 * Hands each message of `socket` to graphql-ws's `handle`, which for a `subscribe` resolves when its
 * operation ends. Two guards graphql-ws lacks:
 * - An id whose operation has not ended is not taken again (4409, as for an active subscriber): after a
 *   `complete` for an operation still starting, graphql-ws forgets the id, and the same id subscribed again
 *   at once overwrote the first operation, which then ran on, unreachable, after the client's `complete`
 *   and its connection's close, holding its places under the per-user limits until its token expired.
 * - A message type only a server sends is a bad message (4400): graphql-ws threw, and it was answered 4500
 *   with an error logged, which anyone could repeat without signing in.
 */
export function handleMessages(socket: WebSocket, handle: (text: string) => Promise<void>, logger: Logger): void {
  const running = new Set<string>();
  socket.on('message', (data: Buffer, isBinary) => {
    if (isBinary) return void socket.close(CloseCode.BadRequest, 'Messages must be text');
    const text = data.toString('utf8');
    const id = subscribeIdOf(text);
    if (id !== undefined) {
      if (running.has(id)) return void socket.close(CloseCode.SubscriberAlreadyExists, `Subscriber for ${id} already exists`);
      running.add(id);
    }
    handle(text)
      .catch((error: unknown) => {
        if (misplaced(error)) return void socket.close(CloseCode.BadRequest, 'Invalid message received');
        logger.error({ err: error }, 'WebSocket message handling failed');
        socket.close(CloseCode.InternalServerError, 'Internal server error');
      })
      .finally(() => {
        if (id !== undefined) running.delete(id);
      });
  });
}
