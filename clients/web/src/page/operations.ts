// The page's GraphQL operations: each is typed by `npm run codegen` and listed in persisted-query-manifest.json.
import { graphql } from './generated';

/** Sign in (auth): an access token for every request, and the refresh token that renews it. */
export const SIGN_IN = graphql(`
  mutation SignIn($input: LoginInput!) {
    login(input: $input) {
      accessToken
      refreshToken
      user {
        id
        email
        role
      }
    }
  }
`);

/** A new pair of tokens for the refresh token, which then stops working (auth). */
export const REFRESH_SESSION = graphql(`
  mutation RefreshSession($refreshToken: String!) {
    refreshSession(refreshToken: $refreshToken) {
      accessToken
      refreshToken
    }
  }
`);

/** Ends the sign-in the refresh token belongs to (auth): its tokens stop working everywhere within seconds. */
export const SIGN_OUT = graphql(`
  mutation SignOut($refreshToken: String!) {
    logout(refreshToken: $refreshToken)
  }
`);

/** The signed-in user, from all four subgraphs: the audit trail (admin) is for admins only, so asked for only then. */
export const MY_ACCOUNT = graphql(`
  query MyAccount($isAdmin: Boolean!) {
    me {
      id
      email
      role
      profile {
        displayName
        locale
      }
      payments(first: 5) {
        edges {
          node {
            id
            amount
            currency
            status
          }
        }
      }
      paymentTotals {
        currency
        amount
      }
      auditTrail(first: 5) @include(if: $isAdmin) {
        edges {
          node {
            action
            createdAt
          }
        }
      }
    }
  }
`);

/** Pay (payments); the idempotency key makes a retry safe. */
export const CREATE_PAYMENT = graphql(`
  mutation CreatePayment($input: CreatePaymentInput!, $idempotencyKey: String!) {
    createPayment(input: $input, idempotencyKey: $idempotencyKey) {
      id
      amount
      currency
      status
    }
  }
`);

/** Refund part or all of a payment (admins only). */
export const REFUND_PAYMENT = graphql(`
  mutation RefundPayment($input: RefundPaymentInput!, $idempotencyKey: String!) {
    refundPayment(input: $input, idempotencyKey: $idempotencyKey) {
      id
      amount
    }
  }
`);

/** The admin's list: users with fields from the four subgraphs, as in the README's tour. */
export const ADMIN_USERS = graphql(`
  query AdminUsers {
    users(first: 10, filter: { role: USER }) {
      edges {
        node {
          id
          email
          status
          profile {
            displayName
          }
          payments(first: 5) {
            edges {
              node {
                id
                amount
                currency
                status
                refundedAmount
              }
            }
          }
          auditTrail(first: 5) {
            edges {
              node {
                action
                createdAt
              }
            }
          }
        }
      }
    }
  }
`);

/** Every change to the signed-in user's payments, as it commits (over WebSocket). */
export const PAYMENT_UPDATES = graphql(`
  subscription PaymentUpdates {
    paymentUpdated {
      id
      status
      amount
      currency
      refundedAmount
      user {
        id
        email
        profile {
          displayName
        }
      }
    }
  }
`);
