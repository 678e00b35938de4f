import { Type, type Static } from '@skein/core';

export const BatchConfigSchema = Type.Object(
  {
    send_batch_size: Type.Integer({
      minimum: 1,
      default: 8192,
      description: 'Data points after which a batch is sent, whatever the timeout. A trigger, not a limit: a batch can be bigger.',
    }),
    send_batch_max_size: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'Most data points in one sent batch; bigger batches are split. 0 means no limit; otherwise at least send_batch_size.',
    }),
    timeout: Type.String({
      format: 'duration',
      default: '200ms',
      description: 'Longest a data point waits before its batch is sent, whatever its size. `0s` sends at once (splitting only).',
    }),
    max_pending_points: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          'Most data points held (waiting or being sent) before new data is refused with a retryable error. Default: 10 × send_batch_size; at least send_batch_size.',
      }),
    ),
  },
  { additionalProperties: false },
);

export type BatchConfig = Static<typeof BatchConfigSchema>;
