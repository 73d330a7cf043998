/**
 * The identity of an authenticated caller, shared by the authenticator and its token store.
 *
 * @module
 */

/** Who is calling, and which apps they may touch (undefined = all). */
export interface Principal {
  name: string;
  apps?: ReadonlySet<string>;
}
