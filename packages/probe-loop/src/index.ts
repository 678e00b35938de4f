/**
 * The probe machinery tcpcheck and httpcheck share, and the contract between them and the
 * probes extension. Not a component: no factory, nothing to configure on its own.
 */
export * from './result.ts';
export * from './store.ts';
export * from './loop.ts';
export * from './emit.ts';
export * from './targets-file.ts';
export * from './receiver.ts';
