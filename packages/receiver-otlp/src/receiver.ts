/**
 * The `otlp` receiver: one HTTP and/or one gRPC server feeding the receiver's pipelines. The
 * transports share everything after the bytes are in hand (push.ts).
 */
import {
  formatHostPort,
  isAuthenticator,
  isServerMiddleware,
  requireExtension,
  validateAgainst,
  type Authenticator,
  type Consumer,
  type CreateSettings,
  type Host,
  type Receiver,
  type ServerMiddleware,
} from '@skein/core';
import { GrpcConfigSchema, HttpConfigSchema, type GrpcConfig, type HttpConfig, type OtlpConfig } from './config.ts';
import { startGrpcServer } from './grpc.ts';
import { startHttpServer, type RunningServer } from './http.ts';
import { receiverMetrics } from './metrics.ts';
import { readTlsFiles } from './net.ts';
import { createPushFront, type PushFrontOptions } from './push.ts';

export interface OtlpReceiver extends Receiver {
  /** Where OTLP/HTTP listens once started (the real port when the config says 0). */
  readonly httpAddress: { host: string; port: number } | undefined;
  /** Where OTLP/gRPC listens once started. */
  readonly grpcAddress: { host: string; port: number } | undefined;
}

/** A protocol's settings: absent stays off, `null` (`grpc:` with no value) gets the defaults. */
function enabled<C>(schema: typeof GrpcConfigSchema | typeof HttpConfigSchema, value: C | null | undefined): C | undefined {
  if (value === undefined) return undefined;
  return value ?? (validateAgainst(schema, null, [], undefined).value as C);
}

export function createOtlpReceiver(settings: CreateSettings<OtlpConfig>, next: Consumer): OtlpReceiver {
  const { id, logger, telemetry } = settings;
  const grpcConfig = enabled<GrpcConfig>(GrpcConfigSchema, settings.config.protocols.grpc);
  const httpConfig = enabled<HttpConfig>(HttpConfigSchema, settings.config.protocols.http);
  const metrics = receiverMetrics(telemetry, id);
  let http: RunningServer | undefined;
  let grpc: RunningServer | undefined;

  /** The authenticator and middlewares one protocol's config names, checked for their interfaces. */
  function front(host: Host, transport: 'http' | 'grpc', config: HttpConfig | GrpcConfig, where: string) {
    const options: PushFrontOptions = {
      receiverId: id,
      transport,
      next,
      logger,
      metrics,
      middlewares: config.middlewares.map((mid) => ({
        id: mid,
        ext: requireExtension<ServerMiddleware>(host, mid, isServerMiddleware, 'server middleware', `${where}::middlewares`),
      })),
    };
    if (config.auth) {
      const authId = config.auth.authenticator;
      const ext = requireExtension<Authenticator>(host, authId, isAuthenticator, 'server authenticator', `${where}::auth::authenticator`);
      options.authenticator = { id: authId, ext };
    }
    return options;
  }

  return {
    get httpAddress() {
      return http?.address;
    },
    get grpcAddress() {
      return grpc?.address;
    },

    async start(host) {
      if (httpConfig) {
        const where = `receivers::${id}::protocols::http`;
        const options = front(host, 'http', httpConfig, where);
        const tls = httpConfig.tls && (await readTlsFiles(httpConfig.tls, where));
        http = await startHttpServer({
          receiverId: id,
          config: httpConfig,
          ...(tls && { tls }),
          front: createPushFront(options),
          ...(options.authenticator && { authenticator: options.authenticator.ext }),
          routes: options.middlewares.flatMap((m) => m.ext.routes?.() ?? []),
          metrics,
          logger,
        });
        const scheme = tls ? 'https' : 'http';
        logger.info('serving OTLP/HTTP', { url: `${scheme}://${formatHostPort(http.address.host, http.address.port)}${httpConfig.metrics_path}` });
      }
      if (grpcConfig) {
        const where = `receivers::${id}::protocols::grpc`;
        const options = front(host, 'grpc', grpcConfig, where);
        const tls = grpcConfig.tls && (await readTlsFiles(grpcConfig.tls, where));
        grpc = await startGrpcServer({
          receiverId: id,
          config: grpcConfig,
          ...(tls && { tls }),
          front: createPushFront(options),
          metrics,
          logger,
        });
        logger.info('serving OTLP/gRPC', { address: formatHostPort(grpc.address.host, grpc.address.port), tls: Boolean(tls) });
      }
    },

    async shutdown() {
      // The addresses stay readable; closing twice returns the same promise.
      await Promise.all([http?.close(), grpc?.close()]);
    },
  };
}
