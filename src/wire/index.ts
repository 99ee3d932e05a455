export * from './types.js';
export * from './frame.js';
export * from './replay.js';
export * from './fragment.js';
export * from './messages/index.js';
