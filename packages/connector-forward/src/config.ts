import { Type, type Static } from '@skein/core';

/** The forward connector has nothing to configure; unknown keys are still errors. */
export const ForwardConfigSchema = Type.Object({}, { additionalProperties: false });

export type ForwardConfig = Static<typeof ForwardConfigSchema>;
