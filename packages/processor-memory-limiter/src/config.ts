import { Type, type Static } from '@skein/core';

export const MemoryLimiterConfigSchema = Type.Object(
  {
    check_interval: Type.String({
      format: 'duration',
      default: '1s',
      description: 'How often the heap is measured. Longer than 0.',
    }),
    limit_mib: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'Hard limit on heap used, in MiB. Set this or limit_percentage.',
      }),
    ),
    spike_limit_mib: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'Headroom below limit_mib, in MiB: data is refused from limit_mib − spike_limit_mib on. Default: 20% of limit_mib.',
      }),
    ),
    limit_percentage: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100,
        description: "Hard limit as a percentage of V8's heap size limit (`--max-old-space-size`). Set this or limit_mib.",
      }),
    ),
    spike_limit_percentage: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 100,
        description: "Headroom as a percentage of V8's heap size limit, with limit_percentage. Default: 20% of the limit.",
      }),
    ),
  },
  { additionalProperties: false },
);

export type MemoryLimiterConfig = Static<typeof MemoryLimiterConfigSchema>;
