/**
 * The `bearer_auth` extension: an authenticator that lets a request in when it carries the
 * configured token (`authorization: Bearer <token>` by default). Receivers reference it with
 * `auth: {authenticator: bearer_auth}`. The token comes from config (`${env:}` works there) or
 * from a file read at start; tokens are compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  defineExtension,
  MiddlewareRejection,
  SkeinError,
  type Authenticator,
  type ConfigProblem,
  type CreateSettings,
  type Extension,
  type ServerRequest,
} from '@skein/core';
import { BearerAuthConfigSchema, type BearerAuthConfig } from './config.ts';

export { BearerAuthConfigSchema, type BearerAuthConfig } from './config.ts';

export interface BearerAuthExtension extends Extension, Authenticator {}

const UNAUTHENTICATED = 16;

/** Equal-length digests, so timingSafeEqual neither throws nor leaks the token's length. */
const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function validateBearerAuthConfig(config: BearerAuthConfig): ConfigProblem[] {
  if (config.token === undefined && config.token_file === undefined) return [{ message: 'set token or token_file' }];
  if (config.token !== undefined && config.token_file !== undefined) return [{ message: 'set token or token_file, not both' }];
  return [];
}

export function createBearerAuth(settings: CreateSettings<BearerAuthConfig>): BearerAuthExtension {
  const { id, config } = settings;
  const header = config.header.toLowerCase();
  const scheme = config.scheme;
  let expected: Buffer | undefined = config.token === undefined ? undefined : digest(config.token);

  const refuse = (message: string, error?: string) =>
    new MiddlewareRejection(message, {
      httpStatus: 401,
      grpcCode: UNAUTHENTICATED,
      // RFC 6750 §3: name the scheme; say why when a token was sent but is wrong.
      headers: scheme === '' ? {} : { 'www-authenticate': error ? `${scheme} error="${error}"` : scheme },
    });

  /** The token in a header value, or undefined when the value does not follow `<scheme> <token>`. */
  function tokenIn(value: string): string | undefined {
    if (scheme === '') return value.trim();
    const space = value.indexOf(' ');
    if (space < 0 || value.slice(0, space).toLowerCase() !== scheme.toLowerCase()) return undefined;
    return value.slice(space + 1).trim();
  }

  return {
    async start() {
      if (config.token_file === undefined) return;
      let text: string;
      try {
        text = await readFile(config.token_file, 'utf8');
      } catch (err) {
        const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
        throw new SkeinError('SKEIN_ERR_COMPONENT_START', `extensions::${id}::token_file: cannot read ${JSON.stringify(config.token_file)}: ${reason}`, {
          cause: err,
        });
      }
      const token = text.trim();
      if (token === '') {
        throw new SkeinError('SKEIN_ERR_COMPONENT_START', `extensions::${id}::token_file: ${JSON.stringify(config.token_file)} is empty`);
      }
      expected = digest(token);
    },

    authenticate(req: ServerRequest): string {
      const value = req.headers[header];
      const usage = scheme === '' ? `"${header}: <token>"` : `"${header}: ${scheme} <token>"`;
      if (value === undefined || value === '') throw refuse(`missing credentials: send ${usage}`);
      const token = tokenIn(value);
      if (token === undefined || token === '') throw refuse(`malformed credentials: send ${usage}`, 'invalid_request');
      // Not started (token_file unread): nothing can match.
      if (expected === undefined || !timingSafeEqual(digest(token), expected)) throw refuse(scheme === '' ? 'invalid token' : `invalid ${scheme} token`, 'invalid_token');
      return id;
    },
  };
}

export const bearerAuthExtension = defineExtension({
  type: 'bearer_auth',
  description: 'Authenticates requests to server receivers by a bearer token, compared in constant time.',
  stability: 'beta',
  configSchema: BearerAuthConfigSchema,
  validate: validateBearerAuthConfig,
  create: (settings) => createBearerAuth(settings),
});

export default bearerAuthExtension;
