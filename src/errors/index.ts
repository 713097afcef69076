export * from './catalogue.js';
export * from './model-error.js';
