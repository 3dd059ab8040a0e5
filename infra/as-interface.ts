/**
 * aws-cdk-lib declares some optional members of its classes as `T | undefined` and the same members of
 * their interfaces as `T?`, which `exactOptionalPropertyTypes` refuses to assign (a `Secret` is not an
 * `ISecret`, an `EventBus` not an `IEventBus`). The value still has to carry every member of the interface;
 * only `undefined` versus absent is waived.
 */
export function asInterface<I>(value: { readonly [K in keyof I]: unknown }): I {
  return value as I;
}
