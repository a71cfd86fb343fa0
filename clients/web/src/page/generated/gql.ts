/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  mutation SignIn($input: LoginInput!) {\n    login(input: $input) {\n      accessToken\n      refreshToken\n      user {\n        id\n        email\n        role\n      }\n    }\n  }\n": typeof types.SignInDocument,
    "\n  mutation RefreshSession($refreshToken: String!) {\n    refreshSession(refreshToken: $refreshToken) {\n      accessToken\n      refreshToken\n    }\n  }\n": typeof types.RefreshSessionDocument,
    "\n  mutation SignOut($refreshToken: String!) {\n    logout(refreshToken: $refreshToken)\n  }\n": typeof types.SignOutDocument,
    "\n  query MyAccount($isAdmin: Boolean!) {\n    me {\n      id\n      email\n      role\n      profile {\n        displayName\n        locale\n      }\n      payments(first: 5) {\n        edges {\n          node {\n            id\n            amount\n            currency\n            status\n          }\n        }\n      }\n      paymentTotals {\n        currency\n        amount\n      }\n      auditTrail(first: 5) @include(if: $isAdmin) {\n        edges {\n          node {\n            action\n            createdAt\n          }\n        }\n      }\n    }\n  }\n": typeof types.MyAccountDocument,
    "\n  mutation CreatePayment($input: CreatePaymentInput!, $idempotencyKey: String!) {\n    createPayment(input: $input, idempotencyKey: $idempotencyKey) {\n      id\n      amount\n      currency\n      status\n    }\n  }\n": typeof types.CreatePaymentDocument,
    "\n  mutation RefundPayment($input: RefundPaymentInput!, $idempotencyKey: String!) {\n    refundPayment(input: $input, idempotencyKey: $idempotencyKey) {\n      id\n      amount\n    }\n  }\n": typeof types.RefundPaymentDocument,
    "\n  query AdminUsers {\n    users(first: 10, filter: { role: USER }) {\n      edges {\n        node {\n          id\n          email\n          status\n          profile {\n            displayName\n          }\n          payments(first: 5) {\n            edges {\n              node {\n                id\n                amount\n                currency\n                status\n                refundedAmount\n              }\n            }\n          }\n          auditTrail(first: 5) {\n            edges {\n              node {\n                action\n                createdAt\n              }\n            }\n          }\n        }\n      }\n    }\n  }\n": typeof types.AdminUsersDocument,
    "\n  subscription PaymentUpdates {\n    paymentUpdated {\n      id\n      status\n      amount\n      currency\n      refundedAmount\n      user {\n        id\n        email\n        profile {\n          displayName\n        }\n      }\n    }\n  }\n": typeof types.PaymentUpdatesDocument,
};
const documents: Documents = {
    "\n  mutation SignIn($input: LoginInput!) {\n    login(input: $input) {\n      accessToken\n      refreshToken\n      user {\n        id\n        email\n        role\n      }\n    }\n  }\n": types.SignInDocument,
    "\n  mutation RefreshSession($refreshToken: String!) {\n    refreshSession(refreshToken: $refreshToken) {\n      accessToken\n      refreshToken\n    }\n  }\n": types.RefreshSessionDocument,
    "\n  mutation SignOut($refreshToken: String!) {\n    logout(refreshToken: $refreshToken)\n  }\n": types.SignOutDocument,
    "\n  query MyAccount($isAdmin: Boolean!) {\n    me {\n      id\n      email\n      role\n      profile {\n        displayName\n        locale\n      }\n      payments(first: 5) {\n        edges {\n          node {\n            id\n            amount\n            currency\n            status\n          }\n        }\n      }\n      paymentTotals {\n        currency\n        amount\n      }\n      auditTrail(first: 5) @include(if: $isAdmin) {\n        edges {\n          node {\n            action\n            createdAt\n          }\n        }\n      }\n    }\n  }\n": types.MyAccountDocument,
    "\n  mutation CreatePayment($input: CreatePaymentInput!, $idempotencyKey: String!) {\n    createPayment(input: $input, idempotencyKey: $idempotencyKey) {\n      id\n      amount\n      currency\n      status\n    }\n  }\n": types.CreatePaymentDocument,
    "\n  mutation RefundPayment($input: RefundPaymentInput!, $idempotencyKey: String!) {\n    refundPayment(input: $input, idempotencyKey: $idempotencyKey) {\n      id\n      amount\n    }\n  }\n": types.RefundPaymentDocument,
    "\n  query AdminUsers {\n    users(first: 10, filter: { role: USER }) {\n      edges {\n        node {\n          id\n          email\n          status\n          profile {\n            displayName\n          }\n          payments(first: 5) {\n            edges {\n              node {\n                id\n                amount\n                currency\n                status\n                refundedAmount\n              }\n            }\n          }\n          auditTrail(first: 5) {\n            edges {\n              node {\n                action\n                createdAt\n              }\n            }\n          }\n        }\n      }\n    }\n  }\n": types.AdminUsersDocument,
    "\n  subscription PaymentUpdates {\n    paymentUpdated {\n      id\n      status\n      amount\n      currency\n      refundedAmount\n      user {\n        id\n        email\n        profile {\n          displayName\n        }\n      }\n    }\n  }\n": types.PaymentUpdatesDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SignIn($input: LoginInput!) {\n    login(input: $input) {\n      accessToken\n      refreshToken\n      user {\n        id\n        email\n        role\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SignIn($input: LoginInput!) {\n    login(input: $input) {\n      accessToken\n      refreshToken\n      user {\n        id\n        email\n        role\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RefreshSession($refreshToken: String!) {\n    refreshSession(refreshToken: $refreshToken) {\n      accessToken\n      refreshToken\n    }\n  }\n"): (typeof documents)["\n  mutation RefreshSession($refreshToken: String!) {\n    refreshSession(refreshToken: $refreshToken) {\n      accessToken\n      refreshToken\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SignOut($refreshToken: String!) {\n    logout(refreshToken: $refreshToken)\n  }\n"): (typeof documents)["\n  mutation SignOut($refreshToken: String!) {\n    logout(refreshToken: $refreshToken)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query MyAccount($isAdmin: Boolean!) {\n    me {\n      id\n      email\n      role\n      profile {\n        displayName\n        locale\n      }\n      payments(first: 5) {\n        edges {\n          node {\n            id\n            amount\n            currency\n            status\n          }\n        }\n      }\n      paymentTotals {\n        currency\n        amount\n      }\n      auditTrail(first: 5) @include(if: $isAdmin) {\n        edges {\n          node {\n            action\n            createdAt\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query MyAccount($isAdmin: Boolean!) {\n    me {\n      id\n      email\n      role\n      profile {\n        displayName\n        locale\n      }\n      payments(first: 5) {\n        edges {\n          node {\n            id\n            amount\n            currency\n            status\n          }\n        }\n      }\n      paymentTotals {\n        currency\n        amount\n      }\n      auditTrail(first: 5) @include(if: $isAdmin) {\n        edges {\n          node {\n            action\n            createdAt\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreatePayment($input: CreatePaymentInput!, $idempotencyKey: String!) {\n    createPayment(input: $input, idempotencyKey: $idempotencyKey) {\n      id\n      amount\n      currency\n      status\n    }\n  }\n"): (typeof documents)["\n  mutation CreatePayment($input: CreatePaymentInput!, $idempotencyKey: String!) {\n    createPayment(input: $input, idempotencyKey: $idempotencyKey) {\n      id\n      amount\n      currency\n      status\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RefundPayment($input: RefundPaymentInput!, $idempotencyKey: String!) {\n    refundPayment(input: $input, idempotencyKey: $idempotencyKey) {\n      id\n      amount\n    }\n  }\n"): (typeof documents)["\n  mutation RefundPayment($input: RefundPaymentInput!, $idempotencyKey: String!) {\n    refundPayment(input: $input, idempotencyKey: $idempotencyKey) {\n      id\n      amount\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AdminUsers {\n    users(first: 10, filter: { role: USER }) {\n      edges {\n        node {\n          id\n          email\n          status\n          profile {\n            displayName\n          }\n          payments(first: 5) {\n            edges {\n              node {\n                id\n                amount\n                currency\n                status\n                refundedAmount\n              }\n            }\n          }\n          auditTrail(first: 5) {\n            edges {\n              node {\n                action\n                createdAt\n              }\n            }\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query AdminUsers {\n    users(first: 10, filter: { role: USER }) {\n      edges {\n        node {\n          id\n          email\n          status\n          profile {\n            displayName\n          }\n          payments(first: 5) {\n            edges {\n              node {\n                id\n                amount\n                currency\n                status\n                refundedAmount\n              }\n            }\n          }\n          auditTrail(first: 5) {\n            edges {\n              node {\n                action\n                createdAt\n              }\n            }\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription PaymentUpdates {\n    paymentUpdated {\n      id\n      status\n      amount\n      currency\n      refundedAmount\n      user {\n        id\n        email\n        profile {\n          displayName\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription PaymentUpdates {\n    paymentUpdated {\n      id\n      status\n      amount\n      currency\n      refundedAmount\n      user {\n        id\n        email\n        profile {\n          displayName\n        }\n      }\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;