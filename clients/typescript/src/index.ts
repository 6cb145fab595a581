export { OAuthVault, vaultErrorOf } from "./client.js";
export type { AccessTokenOptions, OAuthVaultOptions, ProxyInit, RequestOptions } from "./client.js";
export { OAuthVaultError } from "./errors.js";
export type { OAuthVaultErrorCode, OAuthVaultErrorInit } from "./errors.js";
export { verifyWebhook, WebhookVerificationError } from "./webhooks.js";
export type {
  ConnectionEventData,
  ConnectionEventType,
  VerifyWebhookOptions,
  WebhookEvent,
  WebhookVerificationReason,
} from "./webhooks.js";
export type * from "./types.js";
