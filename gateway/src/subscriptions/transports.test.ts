import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import express from 'express';
import type { ExecutionResult } from 'graphql';
import { Registry } from 'prom-client';
import { REPOSITORY_ROOT, createLogger, pollUntil } from '@fedstack/runtime';
import { operationLimits } from '../limits';
import { PersistedDocuments } from '../persisted';
import { SubscriptionAdmission } from './admission';
import type { SubscriptionRequest, SubscriptionResults } from './executor';
import { subscriptionMetrics } from './metrics';
import { SubscriptionPlanner } from './planner';
import { httpStreamingTransports } from './transports';

const SUPERGRAPH = readFileSync(path.join(REPOSITORY_ROOT, 'supergraph.graphql'), 'utf8');
const IDENTITY_MS = 300;

/** Results that never come, counting the subscriptions started and those ended. */
function waitingForever() {
  const counts = { started: 0, ended: 0 };
  const subscribe = (request: SubscriptionRequest): SubscriptionResults => {
    counts.started += 1;
    let finish: (() => void) | undefined;
    const done = { done: true as const, value: undefined };
    const results: SubscriptionResults = {
      [Symbol.asyncIterator]: () => results,
      next: () => new Promise<IteratorResult<ExecutionResult>>((resolve) => (finish = () => resolve(done))),
      return: () => {
        counts.ended += 1;
        request.release?.();
        finish?.();
        return Promise.resolve(done);
      },
      throw: () => results.return(),
    };
    return results;
  };
  return { counts, subscribe };
}

describe('subscriptions over HTTP streams', () => {
  it.each([
    ['multipart HTTP', 'multipart/mixed;subscriptionSpec="1.0"'],
    ['Server-Sent Events', 'text/event-stream'],
  ])('end one whose client went away while it was being identified (%s)', async (_, accept) => {
    const planner = new SubscriptionPlanner();
    planner.load(SUPERGRAPH);
    const limits = operationLimits({ maxDepth: 12, maxAliases: 30, maxDirectives: 20, maxTokens: 3000, maxCost: 20_000 });
    limits.supergraphLoaded(SUPERGRAPH);
    const logger = createLogger('test', 'silent');
    const admission = new SubscriptionAdmission({
      // Auth answers who the subscriber is, slowly.
      execute: () => new Promise((resolve) => setTimeout(() => resolve({ data: { me: { id: 'u1', role: 'USER' } } }), IDENTITY_MS)),
      planner,
      limits,
      documents: new PersistedDocuments({ mode: 'off', files: [], pollMs: 60_000 }, new Registry(), logger),
      maxTokens: 3000,
      maxPerConnection: 5,
      maxPerUser: 5,
    });
    const { counts, subscribe } = waitingForever();
    const streaming = httpStreamingTransports(
      {
        admission,
        subscribe,
        metrics: subscriptionMetrics(new Registry()),
        logger,
        production: true,
        limits: { maxPayloadBytes: 100_000, maxBufferedBytes: 1_000_000, keepAliveMs: 60_000, initTimeoutMs: 3000 },
        clientAddress: (request) => request.socket.remoteAddress,
      },
      100_000,
    );
    const server = http.createServer(express().use(streaming));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const request = http.request({
        host: '127.0.0.1',
        port,
        path: '/graphql',
        method: 'POST',
        headers: { 'content-type': 'application/json', accept, authorization: 'Bearer token' },
      });
      request.on('error', () => undefined);
      request.end(JSON.stringify({ query: 'subscription { paymentUpdated { id } }' }));
      // Gone before auth has answered.
      await new Promise((resolve) => setTimeout(resolve, IDENTITY_MS / 3));
      request.destroy();
      await pollUntil('the subscription started', async () => counts.started === 1, { timeoutMs: 3000, intervalMs: 20 });
      await pollUntil('the subscription ended', async () => counts.ended === 1, { timeoutMs: 1000, intervalMs: 20 });
    } finally {
      await streaming.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
