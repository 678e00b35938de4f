import { Type, type Static } from '@skein/core';

export const DebugConfigSchema = Type.Object(
  {
    verbosity: Type.Union([Type.Literal('basic'), Type.Literal('normal'), Type.Literal('detailed')], {
      default: 'basic',
      description:
        '`basic`: one line per batch with counts; `normal`: also one line per metric; `detailed`: also every resource, scope and data point.',
    }),
    output: Type.Union([Type.Literal('stderr'), Type.Literal('stdout')], {
      default: 'stderr',
      description:
        "`stderr`: through Skein's own logger, in its format and at its level (lines are `info`); `stdout`: JSON lines (text on a terminal) on standard output, apart from Skein's logs.",
    }),
  },
  { additionalProperties: false },
);

export type DebugConfig = Static<typeof DebugConfigSchema>;
