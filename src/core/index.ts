export * from './tensor.js';
export * from './context.js';
