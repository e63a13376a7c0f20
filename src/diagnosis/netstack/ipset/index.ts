// ipset: parse `ipset save` and answer `-m set --match-set` membership questions.
export { IpsetParseError, parseIpsetSave, HASH_TYPE_DIMENSIONS, type IpsetDump } from './parse.js';
export {
  IpsetTable,
  ipsetHas,
  ipsetTest,
  type IpsetContext,
  type IpsetEvaluationOptions,
  type IpsetTestResult,
} from './lookup.js';
export type * from './types.js';
