// Names for the API's types, all taken from the generated schema.
import type { components, paths } from "./generated/schema.js";

type Schemas = components["schemas"];

export type { components, paths };

/** `POST /v1/connect/sessions`'s body. */
export type CreateSessionRequest = Schemas["CreateSessionRequest"];
/** A connect session: send the end user to `connect_url`. */
export type ConnectSession = Schemas["ConnectSession"];
/** A connection: status, provider account, scopes and timestamps; never tokens. */
export type Connection = Schemas["Connection"];
/** One page of `GET /v1/connections`. */
export type ConnectionList = Schemas["ConnectionList"];
/** `active`, `needs_reauthorization`, `error` or `revoked`. */
export type ConnectionStatus = Schemas["ConnectionStatusName"];
/** A working access token of a connection. */
export type AccessToken = Schemas["AccessToken"];
/** Every error code the API answers with. */
export type ErrorCode = Schemas["ErrorCode"];
/** One field's problem in a rejected request. */
export type FieldError = Schemas["FieldError"];
/** The body of every error answer: `{"error": {...}}`. */
export type ErrorBody = Schemas["ErrorBody"];

/** The filters of `GET /v1/connections`, with `cursor` for a given page. */
export type ListConnectionsQuery = NonNullable<paths["/v1/connections"]["get"]["parameters"]["query"]>;
