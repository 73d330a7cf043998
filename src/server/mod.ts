/**
 * The cache server: the Flight service (src/server/service.ts) on the gRPC
 * layer, wired to the store, auth and ops by {@link startServer}.
 *
 * @module
 */
export { type RunningServer, startServer } from "./server.ts";
export { FLIGHT_SERVICE, FlightService, type ServiceOptions } from "./service.ts";
