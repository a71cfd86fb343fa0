// A subgraph's checks of each GraphQL request before it runs: it came through the gateway, and in time.
import type express from 'express';
import { importJWK } from 'jose';
import {
  ASSERTION_REFUSED,
  ConfigError,
  ErrorCode,
  GATEWAY_ASSERTION_HEADER,
  TOKEN_ALGORITHM,
  gatewayAssertionVerifier,
  loadOrCreateDevelopmentKeyPair,
  parsePublicKey,
  refuseLate,
  type Logger,
  type AssertionCheck,
  type Service,
  type VerificationKey,
} from '@fedstack/runtime';
import type { GatewayCheckConfig } from './config';

/** The key the gateway's assertions are checked with: GATEWAY_PUBLIC_KEY, else the development key. */
async function gatewayKey(config: GatewayCheckConfig): Promise<VerificationKey> {
  if (config.publicKey) return parsePublicKey(config.publicKey.value, config.publicKey.setting);
  if (config.developmentKeyFile) return importJWK((await loadOrCreateDevelopmentKeyPair(config.developmentKeyFile)).publicJwk, TOKEN_ALGORITHM);
  throw new ConfigError("no key to check the gateway's assertions with: set GATEWAY_PUBLIC_KEY");
}

/** Checks a request's (or a WebSocket connection's) gateway assertion. */
export type GatewayCheck = (assertion: string | undefined) => Promise<AssertionCheck>;

/**
 * When REQUIRE_GATEWAY is on, the check every GraphQL request and every subscription connection must
 * pass: the gateway's assertion (runtime's gateway-assertion), so that no client skips the gateway's
 * limits by calling a subgraph directly. One verifier for both, so an assertion checked once is
 * remembered for both. Undefined when it is off.
 */
export async function gatewayCheck(service: Service, config: GatewayCheckConfig): Promise<GatewayCheck | undefined> {
  if (!config.required) return undefined;
  return gatewayAssertionVerifier(service, await gatewayKey(config));
}

/** The GraphQL endpoint's side of the check: anything without a good assertion gets 401 saying what was wrong. */
function gatewayOnly(service: Service, check: GatewayCheck, logger: Logger): express.RequestHandler {
  return (req, res, next) => {
    check(req.get(GATEWAY_ASSERTION_HEADER)).then((result) => {
      if (result.ok) return next();
      logger.warn({ reason: result.reason, clientAddress: req.ip }, 'refused a GraphQL request that did not come from the gateway');
      res.status(401).json({
        errors: [
          {
            message: `The ${service} subgraph answers only the gateway; send your request to the gateway (${GATEWAY_ASSERTION_HEADER}: ${result.reason})`,
            extensions: { code: ErrorCode.UNAUTHENTICATED, reason: ASSERTION_REFUSED },
          },
        ],
      });
    }, next);
  };
}

/**
 * What a subgraph checks of each GraphQL request before it runs: first that it is not late (a request
 * the gateway gave up on, runtime's deadline.ts), then, with REQUIRE_GATEWAY, the gateway's assertion.
 */
export function requestChecks(service: Service, check: GatewayCheck | undefined, logger: Logger): express.RequestHandler[] {
  return [refuseLate(logger), ...(check ? [gatewayOnly(service, check, logger)] : [])];
}
