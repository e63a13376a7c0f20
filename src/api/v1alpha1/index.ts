// The NetworkDiagnosis API, v1alpha1: types, names, conditions and spec validation. Pure.
export * from './group.js';
export * from './types.js';
export * from './conditions.js';
export * from './validate.js';
export * from './status.js';
