import { Type, type Static } from '@skein/core';
import { probeReceiverSchema, TargetEntryBase } from '@skein/probe-loop';

export const TcpTargetSchema = Type.Object(
  {
    endpoint: Type.String({
      format: 'host-port',
      description: 'Where to connect, `host:port`: a hostname (resolved at every probe), an IPv4 address or `[ipv6]`; port 1–65535.',
    }),
    ...TargetEntryBase,
  },
  { additionalProperties: false },
);

export const TcpCheckConfigSchema = probeReceiverSchema(
  TcpTargetSchema,
  'The endpoints to probe with a TCP connect, each `{endpoint, name, route, timeout}`.',
);

export type TcpTargetEntry = Static<typeof TcpTargetSchema>;
export type TcpCheckConfig = Static<typeof TcpCheckConfigSchema>;
