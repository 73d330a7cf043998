/**
 * The SDK's error types: every failed call becomes a {@link CacheClientError}
 * carrying the gRPC status code. Defined with the gRPC client machinery
 * (src/grpc/client_errors.ts); this module is their public home in the SDK.
 *
 * @module
 */
export * from "../grpc/client_errors.ts";
export { decodeGrpcMessage } from "../grpc/metadata.ts";
