import { Type, type Static } from '@skein/core';

export const HeartbeatConfigSchema = Type.Object(
  {
    interval: Type.String({
      format: 'duration',
      default: '10s',
      description: 'How often to emit the heartbeat; must be more than 0s.',
    }),
  },
  { additionalProperties: false },
);

export type HeartbeatConfig = Static<typeof HeartbeatConfigSchema>;
