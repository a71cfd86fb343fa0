// A custom scalar written in the query text: a list or an object in its place is refused before the query planner sees it.
import { GraphQLError, Kind, getNamedType, getNullableType, isListType, isScalarType, isSpecifiedScalarType, type ASTNode, type ValidationRule } from 'graphql';
import { ErrorCode } from '@fedstack/runtime';

/**
 * A validation rule reporting to `refuse` each list or object literal written where a custom scalar
 * (EmailAddress, Decimal, DateTime…) is expected, in an argument, an input object, a list or a variable's
 * default: 400 BAD_USER_INPUT. The supergraph's scalars take any literal, and Apollo's query planner walks
 * a list literal twice per level: `email: [[[…"a@b.co"…]]]`, forty levels deep and 170 bytes from an
 * anonymous client, held a gateway's thread for hours (24 levels: 5 s). None of this API's scalars is a
 * list or an object; a value that is one (a JSON argument, some day) goes in a variable.
 */
export function scalarLiterals(refuse: (error: GraphQLError) => void): ValidationRule {
  return (context) => {
    const check = (node: ASTNode & { kind: Kind.LIST | Kind.OBJECT }) => {
      // Inside a list, graphql-js's type is already its items': the list's own place is the parent's.
      const place = node.kind === Kind.LIST ? context.getParentInputType() : context.getInputType();
      const named = getNamedType(place);
      if (!named || !isScalarType(named) || isSpecifiedScalarType(named)) return;
      // A list where the place takes a list of the scalar is that list; any other list, and any object
      // (even where a list goes: graphql-js then follows no type inside it), is not the scalar's.
      if (node.kind === Kind.LIST && isListType(getNullableType(place))) return;
      refuse(
        new GraphQLError(
          `${named.name} takes a single value, written as a string or a number: ${node.kind === Kind.LIST ? 'a list' : 'an object'} was written in its place`,
          {
            extensions: { code: ErrorCode.BAD_USER_INPUT, http: { status: 400 } },
          },
        ),
      );
      // Nothing inside it needs looking at: the operation is refused.
      return false;
    };
    return { [Kind.LIST]: check, [Kind.OBJECT]: check };
  };
}
